"""``certward import``: certImport (seed 000) done right — checked, all or nothing.

Typical use::

    result = import_certificates(
        ImportRequest(ca=Path("ca.crt"), certificate=Path("server.crt"), key=Path("server.key"),
                      crl=Path("ca.crl"), target=Path("keys"), config=Path("streamserver.conf"),
                      password=password)
    )

What happens, in order; the first failure raises and nothing on disk changes:

1. The key password is at most 100 characters.
2. The input files belong to the current user; the key is not more permissive than 0640.
3. The target directory, if it exists, belongs to the current user with mode 0700,
   and holds none of ``ca.crt``/``server.crt``/``server.key``/``ca.crl`` (unless
   ``replace``: they move to ``backup-<time>/`` in the target, with the old config).
4. The key is RSA ≥ 2048 (EC only with ``allow_ec``), opens with the password and
   matches the server certificate; the certificate chains to the CA and every
   certificate of the path is within its dates; the CRL, if given, is signed by
   the CA, current, and does not list the server certificate.
5. Everything is staged, then renamed into place: ``ca.crt``, ``server.crt``, the
   key re-encrypted under a fresh random password (``server.key``), ``ca.crl``,
   ``kmc.ks`` + ``StandbyKsf.ks`` when absent (all 0400), a line in ``import.log``
   naming the operating user, and the config keys ``ca_crt``, ``server_crt``,
   ``server_key``, ``crl`` (paths relative to the config file's directory) and
   ``server_key_mm`` (the key's password sealed with the master keys).

A service gets its key back with :func:`certward.certs.certimport_tls.load_imported_identity`.
"""

from __future__ import annotations

import json
import os
import pwd
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from certward.ca.hashdir import crl_number
from certward.certs.certimport_checks import (
    check_certificate_key,
    check_crl,
    check_key_type,
    verify_chain,
)
from certward.certs.certimport_config import with_config_values
from certward.certs.certimport_files import (
    KEY_FILE_MAX_MODE,
    FileTransaction,
    PlannedFile,
    check_owned_regular_file,
    check_target_directory,
    read_owned_file,
)
from certward.certs.certimport_secrets import (
    new_key_password,
    plan_master_keys,
    seal_key_password,
)
from certward.crypto.formats import load_certificates, load_crl
from certward.crypto.keys import (
    MAX_PASSWORD_LENGTH,
    SigningKey,
    load_private_key,
    private_key_to_pkcs8,
)
from certward.errors import (
    ImportTargetExists,
    InvalidCertificate,
    InvalidInput,
    MalformedData,
    PasswordError,
)
from certward.files import READONLY_SECRET_MODE, SECRET_FILE_MODE

__all__ = [
    "AUDIT_LOG_FILE",
    "CA_FILE",
    "CERT_FILE",
    "CRL_FILE",
    "IMPORTED_FILES",
    "KEY_FILE",
    "CRLUpdateResult",
    "ImportRequest",
    "ImportResult",
    "import_certificates",
    "key_file_needs_password",
    "update_crl",
]

CA_FILE = "ca.crt"
CERT_FILE = "server.crt"
KEY_FILE = "server.key"
CRL_FILE = "ca.crl"
AUDIT_LOG_FILE = "import.log"
# The files seed 000 says must not be in keys/ before an import (back them up first).
IMPORTED_FILES = (CA_FILE, CERT_FILE, KEY_FILE, CRL_FILE)

_log = structlog.get_logger()


@dataclass(frozen=True, kw_only=True)
class ImportRequest:
    """What to import and where; see the module docstring for the checks."""

    ca: Path
    certificate: Path
    key: Path
    crl: Path | None = None
    target: Path = Path("keys")
    config: Path | None = None
    password: str | None = field(default=None, repr=False)
    replace: bool = False
    allow_ec: bool = False


@dataclass(frozen=True)
class ImportResult:
    """What an import wrote."""

    target: Path
    files: tuple[str, ...]
    master_keys_created: bool
    config: Path | None
    config_values: dict[str, str]
    backup: Path | None
    key_type: str
    subject: str
    not_after: datetime
    operator: str


@dataclass(frozen=True)
class CRLUpdateResult:
    """What a CRL update wrote."""

    crl: Path
    crl_number: int | None
    revoked_count: int
    next_update: datetime | None
    config: Path | None
    operator: str


def _operator() -> str:
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _check_password_length(password: str | None) -> None:
    if password is not None and len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordError(
            f"the key password has {len(password)} characters; at most {MAX_PASSWORD_LENGTH} "
            "are accepted"
        )


def _as_pem_certificates(data: bytes, what: str) -> tuple[list[x509.Certificate], bytes]:
    try:
        certificates = load_certificates(data)
    except MalformedData as exc:
        raise InvalidCertificate(f"{what}: {exc.message}") from None
    if b"-----BEGIN" in data:
        return certificates, data
    return certificates, b"".join(
        certificate.public_bytes(serialization.Encoding.PEM) for certificate in certificates
    )


def _load_crl_pem(data: bytes) -> tuple[x509.CertificateRevocationList, bytes]:
    crl = load_crl(data)
    return crl, data if b"-----BEGIN" in data else crl.public_bytes(serialization.Encoding.PEM)


def key_file_needs_password(path: Path) -> bool:
    """Whether the key file is encrypted (after the same owner/mode checks as the import)."""
    data = read_owned_file(path, what="the server key", max_mode=KEY_FILE_MAX_MODE)
    try:
        load_private_key(data)
    except PasswordError:
        return True
    return False


def _load_server_key(data: bytes, password: str | None) -> SigningKey:
    try:
        return load_private_key(data)
    except PasswordError:
        if password is None:
            raise PasswordError(
                "the server key is encrypted: give its password (prompt, --password-file or stdin)"
            ) from None
    try:
        return load_private_key(data, password=password.encode("utf-8"))
    except PasswordError:
        raise PasswordError("the password does not open the server key") from None


def _relative(path: Path, config: Path | None) -> str:
    start = config.resolve().parent if config is not None else Path.cwd()
    return os.path.relpath(path.resolve(), start)


def _fingerprint(data: bytes) -> str:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize().hex()


def _audit_file(target: Path, exists: bool, entry: dict[str, object]) -> PlannedFile:
    path = target / AUDIT_LOG_FILE
    previous = b""
    if exists and check_owned_regular_file(path, what="the import log"):
        previous = read_owned_file(path, what="the import log")
        if previous and not previous.endswith(b"\n"):
            previous += b"\n"
    line = json.dumps(entry, sort_keys=True, default=str).encode("utf-8") + b"\n"
    return PlannedFile(path, previous + line, SECRET_FILE_MODE)


def _config_plan(config: Path | None, values: dict[str, str]) -> PlannedFile | None:
    if config is None:
        return None
    if not config.parent.is_dir():
        raise InvalidInput(f"the directory of the config file {config} does not exist")
    if check_owned_regular_file(config, what="the config file"):
        current = read_owned_file(config, what="the config file")
        mode = os.stat(config).st_mode & 0o777
    else:
        current, mode = b"", SECRET_FILE_MODE
    return PlannedFile(config, with_config_values(current, values), mode)


def _backup_dir(target: Path, now: datetime) -> Path:
    base = target / f"backup-{now:%Y%m%dT%H%M%SZ}"
    candidate, number = base, 1
    while candidate.exists():
        number += 1
        candidate = base.with_name(f"{base.name}-{number}")
    return candidate


def import_certificates(request: ImportRequest, *, now: datetime | None = None) -> ImportResult:
    """Check and import a server identity into ``request.target``; all or nothing.

    Raises PasswordError, FilePermissionError, ImportTargetExists, KeyTypeNotAllowed,
    CertificateKeyMismatch, CertificateUntrusted, CertificateRevoked, InvalidCRL,
    InvalidCertificate or MalformedData; in every case the filesystem is unchanged.
    """
    now = now or datetime.now(UTC)
    _check_password_length(request.password)
    ca_data = read_owned_file(request.ca, what="the CA certificate")
    cert_data = read_owned_file(request.certificate, what="the server certificate")
    key_data = read_owned_file(request.key, what="the server key", max_mode=KEY_FILE_MAX_MODE)
    crl_data = read_owned_file(request.crl, what="the CRL") if request.crl is not None else None

    target = request.target
    target_exists = check_target_directory(target)
    present = [name for name in IMPORTED_FILES if target_exists and (target / name).exists()]
    if present and not request.replace:
        raise ImportTargetExists(
            f"{target} already holds {', '.join(present)}; back them up and remove them, "
            "or run again with --replace (which moves them to a backup directory)"
        )
    for name in present:
        check_owned_regular_file(target / name, what="the file to replace")

    anchors, ca_pem = _as_pem_certificates(ca_data, "the CA certificate")
    chain, cert_pem = _as_pem_certificates(cert_data, "the server certificate")
    leaf = chain[0]
    key = _load_server_key(key_data, request.password)
    key_type = check_key_type(key, allow_ec=request.allow_ec)
    check_certificate_key(leaf, key)
    verify_chain(leaf, chain[1:], anchors, now=now)
    crl_pem: bytes | None = None
    if crl_data is not None:
        crl, crl_pem = _load_crl_pem(crl_data)
        check_crl(crl, anchors, now=now, not_revoked=leaf)

    master = plan_master_keys(target, exists=target_exists)
    key_password = new_key_password()
    key_pem = private_key_to_pkcs8(key, password=key_password)
    server_key_mm = seal_key_password(master.keystore(target), key_password)

    files = [
        PlannedFile(target / CA_FILE, ca_pem, READONLY_SECRET_MODE),
        PlannedFile(target / CERT_FILE, cert_pem, READONLY_SECRET_MODE),
        PlannedFile(target / KEY_FILE, key_pem, READONLY_SECRET_MODE),
    ]
    if crl_pem is not None:
        files.append(PlannedFile(target / CRL_FILE, crl_pem, READONLY_SECRET_MODE))
    files.extend(
        PlannedFile(target / name, content, READONLY_SECRET_MODE)
        for name, content in master.writes.items()
    )
    values = {
        "ca_crt": _relative(target / CA_FILE, request.config),
        "server_crt": _relative(target / CERT_FILE, request.config),
        "server_key": _relative(target / KEY_FILE, request.config),
        "crl": _relative(target / CRL_FILE, request.config) if crl_pem is not None else "",
        "server_key_mm": server_key_mm,
    }
    config_file = _config_plan(request.config, values)
    backup = _backup_dir(target, now) if present else None
    operator = _operator()
    files.append(
        _audit_file(
            target,
            target_exists,
            {
                "time": now.isoformat(),
                "action": "import",
                "user": operator,
                "uid": os.geteuid(),
                "subject": leaf.subject.rfc4514_string(),
                "serial": f"{leaf.serial_number:x}",
                "files": {planned.path.name: _fingerprint(planned.data) for planned in files},
                "backup": backup.name if backup else None,
            },
        )
    )
    backup_extra = []
    if backup is not None and request.config is not None and request.config.exists():
        backup_extra.append(
            PlannedFile(
                backup / request.config.name,
                read_owned_file(request.config, what="the config file"),
                SECRET_FILE_MODE,
            )
        )

    with FileTransaction(target, target_exists=target_exists) as transaction:
        transaction.stage([*files, *([config_file] if config_file else [])])
        transaction.commit(
            displaced=[target / name for name in present],
            backup_dir=backup,
            backup_extra=backup_extra,
        )
    _log.info(
        "certimport.imported",
        user=operator,
        target=str(target),
        subject=leaf.subject.rfc4514_string(),
        replaced=list(present),
        master_keys_created=master.created,
    )
    return ImportResult(
        target=target,
        files=tuple(planned.path.name for planned in files),
        master_keys_created=master.created,
        config=request.config,
        config_values=values,
        backup=backup,
        key_type=key_type,
        subject=leaf.subject.rfc4514_string(),
        not_after=leaf.not_valid_after_utc,
        operator=operator,
    )


def update_crl(
    crl: Path, *, target: Path, config: Path | None = None, now: datetime | None = None
) -> CRLUpdateResult:
    """Replace ``ca.crl`` in an imported target with a newer CRL of the same CA, atomically.

    The seed's manual way (delete the file, copy the new one under the same name)
    leaves a moment with no CRL; here the new file is renamed over the old one.
    The CRL must be signed by the target's ``ca.crt``, current, not older than
    the CRL in place and must not revoke the imported server certificate.
    ``config``: when given, its ``crl`` key is pointed at the file.
    """
    now = now or datetime.now(UTC)
    crl_data = read_owned_file(crl, what="the CRL")
    if not check_target_directory(target):
        raise InvalidInput(f"{target} does not exist; run certward import first")
    anchors, _ = _as_pem_certificates(
        read_owned_file(target / CA_FILE, what="the imported CA certificate"),
        "the imported CA certificate",
    )
    server = None
    if check_owned_regular_file(target / CERT_FILE, what="the imported server certificate"):
        server = _as_pem_certificates(
            read_owned_file(target / CERT_FILE, what="the imported server certificate"),
            "the imported server certificate",
        )[0][0]
    previous = None
    if check_owned_regular_file(target / CRL_FILE, what="the CRL in place"):
        previous = load_crl(read_owned_file(target / CRL_FILE, what="the CRL in place"))
    new_crl, crl_pem = _load_crl_pem(crl_data)
    check_crl(new_crl, anchors, now=now, not_revoked=server, previous=previous)

    operator = _operator()
    files = [PlannedFile(target / CRL_FILE, crl_pem, READONLY_SECRET_MODE)]
    if config is not None:
        config_file = _config_plan(config, {"crl": _relative(target / CRL_FILE, config)})
        assert config_file is not None
        files.append(config_file)
    files.append(
        _audit_file(
            target,
            True,
            {
                "time": now.isoformat(),
                "action": "update-crl",
                "user": operator,
                "uid": os.geteuid(),
                "crl_number": crl_number(new_crl),
                "files": {CRL_FILE: _fingerprint(crl_pem)},
            },
        )
    )
    with FileTransaction(target, target_exists=True) as transaction:
        transaction.stage(files)
        transaction.commit()
    _log.info("certimport.crl_updated", user=operator, target=str(target))
    return CRLUpdateResult(
        crl=target / CRL_FILE,
        crl_number=crl_number(new_crl),
        revoked_count=len(list(new_crl)),
        next_update=new_crl.next_update_utc,
        config=config,
        operator=operator,
    )
