"""Publish certificates and CRLs into an OpenSSL hash directory (``CApath``).

OpenSSL's ``X509_LOOKUP_hash_dir`` finds a certificate as ``<subject-hash>.N``
and a CRL as ``<issuer-hash>.rN``, probing N = 0, 1, 2, ... and stopping at the
first number that is missing *or does not load as PEM*. So numbering has no
gaps, files are PEM, and a file's number should not move once a reader may have
seen it. Unlike ``openssl rehash``, which renumbers everything, this keeps
existing numbers stable and touches only the files it owns.

Known limits, both from how ``by_dir.c`` caches:

* A CRL is replaced in place. A long-lived ``X509_STORE`` (one ``SSLContext``
  kept for the life of a process) remembers the highest ``.rN`` it loaded and
  only probes beyond it, so it keeps the old CRL until the store is rebuilt;
  fresh loaders (``openssl verify``, a reloaded server) see the new one.
* A file that does not parse keeps its number, but OpenSSL stops probing at
  it, so a certificate numbered after it is invisible to OpenSSL.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from certward.crypto.subject_hash import certificate_subject_hash, crl_issuer_hash
from certward.errors import Conflict, FilePermissionError, InvalidInput
from certward.files import PUBLIC_FILE_MODE, write_atomic

__all__ = [
    "HashDirEntry",
    "HashDirReport",
    "crl_number",
    "is_older_crl",
    "same_crl_issuer",
    "sync_hash_directory",
]

# A trust directory holds only public data and every TLS client must read it.
_PUBLIC_DIR_MODE = 0o755

# Exactly the names by_dir.c probes: "%08lx.%d" and "%08lx.r%d" (no leading zeros).
_HASH_FILE = re.compile(r"([0-9a-f]{8})\.(r?)(0|[1-9][0-9]*)")

_T = TypeVar("_T")

Kind = Literal["certificate", "crl"]
Action = Literal["created", "replaced", "unchanged"]


@dataclass(frozen=True)
class HashDirEntry:
    """What happened to one certificate or CRL: its file name and the action taken."""

    file_name: str
    kind: Kind
    action: Action


@dataclass(frozen=True)
class HashDirReport:
    """The outcome of one sync, one entry per distinct certificate and CRL given."""

    entries: tuple[HashDirEntry, ...]


@dataclass(frozen=True)
class _CertFile:
    """An existing ``<hash>.N``: the certificates in it, and whether OpenSSL can load it."""

    fingerprints: frozenset[bytes]
    is_pem: bool


@dataclass(frozen=True)
class _CrlFile:
    """An existing ``<hash>.rN``: its CRL, and whether OpenSSL can load it."""

    crl: x509.CertificateRevocationList
    is_pem: bool


@dataclass(frozen=True)
class _Step:
    """One planned outcome: the report entry, and the PEM to write unless unchanged."""

    entry: HashDirEntry
    data: bytes | None = None


def sync_hash_directory(
    directory: Path,
    *,
    certificates: Sequence[x509.Certificate] = (),
    crls: Sequence[x509.CertificateRevocationList] = (),
) -> HashDirReport:
    """Make ``directory`` hold ``certificates`` and ``crls`` under OpenSSL hash names.

    A certificate already present keeps its ``.N``; a new one takes the lowest
    free ``.N`` of its subject hash. A CRL overwrites the ``.rN`` holding the
    previous CRL of the same issuer (same issuer name and, where both carry one,
    authority key identifier), else takes the lowest free ``.rN``. Other files,
    including ones that do not parse, are left alone. Everything is checked
    before the first write, and each write is atomic.

    Raises ``Conflict`` if a CRL is older than the one it would replace (that
    would un-revoke certificates), ``InvalidInput`` if two different CRLs of one
    issuer are given, ``FilePermissionError`` if ``directory`` is not a directory.
    """
    directory = _ensure_public_dir(Path(directory))
    with _locked(directory):
        steps = _plan_certificates(directory, certificates) + _plan_crls(directory, crls)
        for step in steps:
            if step.data is not None:
                write_atomic(directory / step.entry.file_name, step.data, mode=PUBLIC_FILE_MODE)
    return HashDirReport(entries=tuple(step.entry for step in steps))


def _plan_certificates(directory: Path, certificates: Sequence[x509.Certificate]) -> list[_Step]:
    steps: list[_Step] = []
    slots_by_hash: dict[str, dict[int, _CertFile | None]] = {}
    seen: set[bytes] = set()
    for certificate in certificates:
        fingerprint = certificate.fingerprint(hashes.SHA256())
        if fingerprint in seen:
            continue
        seen.add(fingerprint)
        name_hash = certificate_subject_hash(certificate)
        if name_hash not in slots_by_hash:
            slots_by_hash[name_hash] = _existing(directory, name_hash, "", _read_cert_file)
        slots = slots_by_hash[name_hash]
        held = [
            n for n, f in sorted(slots.items()) if f is not None and fingerprint in f.fingerprints
        ]
        number = held[0] if held else _lowest_free(slots)
        file_name = f"{name_hash}.{number}"
        existing = slots.get(number)
        if existing is not None and existing.is_pem:
            steps.append(_Step(HashDirEntry(file_name, "certificate", "unchanged")))
            continue
        # A DER file OpenSSL's hash lookup would not load is rewritten as PEM.
        action: Action = "replaced" if existing is not None else "created"
        slots[number] = _CertFile(frozenset({fingerprint}), is_pem=True)
        entry = HashDirEntry(file_name, "certificate", action)
        steps.append(_Step(entry, certificate.public_bytes(Encoding.PEM)))
    return steps


def _plan_crls(directory: Path, crls: Sequence[x509.CertificateRevocationList]) -> list[_Step]:
    steps: list[_Step] = []
    slots_by_hash: dict[str, dict[int, _CrlFile | None]] = {}
    planned: dict[str, bytes] = {}
    for crl in crls:
        der = crl.public_bytes(Encoding.DER)
        name_hash = crl_issuer_hash(crl)
        if name_hash not in slots_by_hash:
            slots_by_hash[name_hash] = _existing(directory, name_hash, "r", _read_crl_file)
        slots = slots_by_hash[name_hash]
        same_issuer = [
            n for n, f in sorted(slots.items()) if f is not None and _same_issuer(f.crl, crl)
        ]
        number = same_issuer[0] if same_issuer else _lowest_free(slots)
        file_name = f"{name_hash}.r{number}"
        if file_name in planned:
            if planned[file_name] == der:
                continue
            raise InvalidInput(f"two different CRLs of one issuer given for {file_name}")
        planned[file_name] = der
        existing = slots.get(number)
        if (
            existing is not None
            and existing.is_pem
            and existing.crl.public_bytes(Encoding.DER) == der
        ):
            steps.append(_Step(HashDirEntry(file_name, "crl", "unchanged")))
            continue
        for n in same_issuer:
            current = slots[n]
            if current is not None and _is_older(crl, current.crl):
                raise Conflict(
                    f"CRL for {crl.issuer.rfc4514_string()} is older than the one in "
                    f"{name_hash}.r{n}; refusing to roll back revocations"
                )
        action: Action = "replaced" if existing is not None else "created"
        slots[number] = _CrlFile(crl, is_pem=True)
        steps.append(_Step(HashDirEntry(file_name, "crl", action), crl.public_bytes(Encoding.PEM)))
    return steps


def _existing(
    directory: Path, name_hash: str, infix: str, read: Callable[[bytes], _T | None]
) -> dict[int, _T | None]:
    """The numbered files of one hash and kind; ``None`` for a file that does not parse.

    An unparsable file still occupies its number: it is not ours to replace.
    """
    found: dict[int, _T | None] = {}
    for path in directory.iterdir():
        match = _HASH_FILE.fullmatch(path.name)
        if match is None or match[1] != name_hash or match[2] != infix:
            continue
        try:
            data = path.read_bytes()
        except OSError:
            # A dangling symlink or unreadable file: keep clear of its number.
            found[int(match[3])] = None
            continue
        found[int(match[3])] = read(data)
    return found


def _read_cert_file(data: bytes) -> _CertFile | None:
    is_pem = b"-----BEGIN" in data
    try:
        if is_pem:
            certificates = x509.load_pem_x509_certificates(data)
        else:
            certificates = [x509.load_der_x509_certificate(data)]
    except ValueError:
        return None
    fingerprints = frozenset(c.fingerprint(hashes.SHA256()) for c in certificates)
    return _CertFile(fingerprints, is_pem=is_pem)


def _read_crl_file(data: bytes) -> _CrlFile | None:
    is_pem = b"-----BEGIN" in data
    try:
        crl = x509.load_pem_x509_crl(data) if is_pem else x509.load_der_x509_crl(data)
    except ValueError:
        return None
    return _CrlFile(crl, is_pem=is_pem)


def _lowest_free(slots: dict[int, _T]) -> int:
    number = 0
    while number in slots:
        number += 1
    return number


def _same_issuer(a: x509.CertificateRevocationList, b: x509.CertificateRevocationList) -> bool:
    """Same issuer name, and same issuing key where both CRLs name it.

    A CA re-keyed under the same name publishes CRLs of both keys side by side.
    """
    if a.issuer.public_bytes() != b.issuer.public_bytes():
        return False
    a_key, b_key = _authority_key_id(a), _authority_key_id(b)
    return a_key is None or b_key is None or a_key == b_key


def _authority_key_id(crl: x509.CertificateRevocationList) -> bytes | None:
    try:
        aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except x509.ExtensionNotFound:
        return None
    return aki.value.key_identifier


def _is_older(new: x509.CertificateRevocationList, current: x509.CertificateRevocationList) -> bool:
    """Whether ``new`` precedes ``current``: by CRL number, else by thisUpdate."""
    new_number, current_number = _crl_number(new), _crl_number(current)
    if new_number is not None and current_number is not None:
        return new_number < current_number
    return new.last_update_utc < current.last_update_utc


def _crl_number(crl: x509.CertificateRevocationList) -> int | None:
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return None


def _ensure_public_dir(directory: Path) -> Path:
    if not directory.exists():
        directory.mkdir(parents=True, mode=_PUBLIC_DIR_MODE)
        # mkdir's mode is filtered by the umask; readers need the directory world-readable.
        os.chmod(directory, _PUBLIC_DIR_MODE)
    elif not directory.is_dir():
        raise FilePermissionError(f"{directory} exists and is not a directory")
    return directory


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` so concurrent syncs cannot pick the same N."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


# The CRL ordering rules, shared with the slot CRL swap (certs/crl.py).
same_crl_issuer = _same_issuer
is_older_crl = _is_older
crl_number = _crl_number
