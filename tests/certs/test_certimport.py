"""``certward import`` as a service: what an import writes; a refusal changes nothing."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from certward.certs.certimport import ImportRequest, import_certificates, update_crl
from certward.certs.certimport_config import read_config_values
from certward.certs.certimport_secrets import recover_key_password
from certward.errors import (
    CertificateKeyMismatch,
    CertificateRevoked,
    CertificateUntrusted,
    CertwardError,
    FilePermissionError,
    ImportTargetExists,
    InvalidCertificate,
    InvalidCRL,
    KeystoreCorrupt,
    KeyTypeNotAllowed,
    PasswordError,
)
from certward.keystore import Keystore
from certward.keystore.master_key_file import decode_master_key_file
from tests.certs.certimport_material import PASSWORD, Identity, TinyCA, new_key, snapshot_tree

OTHER_UID = 65534  # nobody


@dataclass
class Setup:
    """A working directory with inputs, a config file and the request that imports them."""

    root: Path
    ca: TinyCA
    server: Identity
    request: ImportRequest

    @property
    def target(self) -> Path:
        return self.request.target

    @property
    def config(self) -> Path:
        assert self.request.config is not None
        return self.request.config


CONFIG_TEXT = b"# stream server settings\nport = 8443\n\nca_crt=\n; legacy comment\nthreads=4\n"


@pytest.fixture(scope="module")
def ca() -> TinyCA:
    return TinyCA("Stream Test CA")


@pytest.fixture(scope="module")
def server(ca: TinyCA) -> Identity:
    return ca.issue("localhost")


@pytest.fixture
def setup(tmp_path: Path, ca: TinyCA, server: Identity) -> Setup:
    files = ca.write_inputs(tmp_path / "in", server)
    crl = tmp_path / "in" / "ca.crl"
    crl.write_bytes(ca.crl())
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    config = config_dir / "streamserver.conf"
    config.write_bytes(CONFIG_TEXT)
    config.chmod(0o640)
    request = ImportRequest(
        ca=files.ca,
        certificate=files.certificate,
        key=files.key,
        crl=crl,
        target=tmp_path / "streamserver" / "keys",
        config=config,
        password=PASSWORD,
    )
    (tmp_path / "streamserver").mkdir()
    return Setup(tmp_path, ca, server, request)


def test_import_writes_the_files_read_only_in_a_private_directory(setup: Setup) -> None:
    result = import_certificates(setup.request)

    target = setup.target
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    for name in ("ca.crt", "server.crt", "server.key", "ca.crl", "kmc.ks", "StandbyKsf.ks"):
        info = (target / name).stat()
        assert stat.S_IMODE(info.st_mode) == 0o400, name
        assert info.st_uid == os.geteuid()
    assert (target / "ca.crt").read_bytes() == setup.request.ca.read_bytes()
    assert (target / "server.crt").read_bytes() == setup.request.certificate.read_bytes()
    assert setup.request.crl is not None
    assert (target / "ca.crl").read_bytes() == setup.request.crl.read_bytes()
    assert result.master_keys_created
    assert result.key_type == "RSA-2048"


def test_both_master_key_files_hold_the_same_valid_keys(setup: Setup) -> None:
    import_certificates(setup.request)

    primary = (setup.target / "kmc.ks").read_bytes()
    standby = (setup.target / "StandbyKsf.ks").read_bytes()
    assert primary == standby
    assert decode_master_key_file(primary).key_ids == (1,)


def test_config_gets_relative_paths_and_keeps_every_other_line(setup: Setup) -> None:
    import_certificates(setup.request)

    text = setup.config.read_text()
    values = read_config_values(setup.config.read_bytes())
    assert values["ca_crt"] == "../streamserver/keys/ca.crt"
    assert values["server_crt"] == "../streamserver/keys/server.crt"
    assert values["server_key"] == "../streamserver/keys/server.key"
    assert values["crl"] == "../streamserver/keys/ca.crl"
    assert values["server_key_mm"]
    for line in ("# stream server settings", "port = 8443", "; legacy comment", "threads=4"):
        assert line in text.splitlines()
    # ca_crt is set where it was; the absent keys are appended after the old content.
    assert text.splitlines()[3] == "ca_crt=../streamserver/keys/ca.crt"
    assert text.startswith(CONFIG_TEXT.decode().split("ca_crt=")[0])
    assert stat.S_IMODE(setup.config.stat().st_mode) == 0o640


def test_the_imported_key_opens_with_the_sealed_password_and_matches(setup: Setup) -> None:
    import_certificates(setup.request)

    sealed = read_config_values(setup.config.read_bytes())["server_key_mm"]
    password = recover_key_password(setup.target, sealed)
    key = serialization.load_pem_private_key(
        (setup.target / "server.key").read_bytes(), password=password
    )
    assert password != PASSWORD.encode()  # the operator's password is not kept
    assert len(password) <= 100
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(
        serialization.Encoding.DER, spki
    ) == setup.server.certificate.public_key().public_bytes(serialization.Encoding.DER, spki)
    with pytest.raises(TypeError):  # encrypted at rest: no password, no key
        serialization.load_pem_private_key((setup.target / "server.key").read_bytes(), None)


def test_the_import_log_names_the_operating_user(setup: Setup) -> None:
    result = import_certificates(setup.request)

    import json
    import pwd

    entry = json.loads((setup.target / "import.log").read_text().splitlines()[-1])
    assert entry["user"] == pwd.getpwuid(os.geteuid()).pw_name == result.operator
    assert entry["action"] == "import"
    assert PASSWORD not in (setup.target / "import.log").read_text()


def test_without_a_crl_the_crl_key_is_left_empty(setup: Setup) -> None:
    import_certificates(replace(setup.request, crl=None))

    assert read_config_values(setup.config.read_bytes())["crl"] == ""
    assert not (setup.target / "ca.crl").exists()


def test_a_missing_config_file_is_created_private(setup: Setup) -> None:
    setup.config.unlink()

    import_certificates(setup.request)

    assert stat.S_IMODE(setup.config.stat().st_mode) == 0o600
    assert set(read_config_values(setup.config.read_bytes())) == {
        "ca_crt",
        "server_crt",
        "server_key",
        "crl",
        "server_key_mm",
    }


def test_an_unencrypted_key_needs_no_password(setup: Setup) -> None:
    setup.request.key.chmod(0o600)
    setup.request.key.write_bytes(setup.server.key_pem(None))

    import_certificates(replace(setup.request, password=None))

    sealed = read_config_values(setup.config.read_bytes())["server_key_mm"]
    password = recover_key_password(setup.target, sealed)
    serialization.load_pem_private_key((setup.target / "server.key").read_bytes(), password)


def test_an_ec_key_is_imported_with_allow_ec(setup: Setup) -> None:
    ec_server = setup.ca.issue("localhost", key_kind="ec")
    files = setup.ca.write_inputs(setup.root / "ec", ec_server)
    request = replace(
        setup.request, ca=files.ca, certificate=files.certificate, key=files.key, allow_ec=True
    )

    result = import_certificates(request)

    assert result.key_type == "EC-secp256r1"


def test_a_server_certificate_under_an_intermediate_ca_is_imported(
    setup: Setup, tmp_path: Path
) -> None:
    intermediate = TinyCA("Stream Issuing CA", parent=setup.ca)
    leaf = intermediate.issue("localhost")
    files = intermediate.write_inputs(tmp_path / "chain", leaf)

    import_certificates(
        replace(setup.request, ca=files.ca, certificate=files.certificate, key=files.key, crl=None)
    )

    assert (setup.target / "server.crt").read_bytes().count(b"BEGIN CERTIFICATE") == 2


def test_replace_moves_the_old_files_and_config_to_a_backup_and_keeps_master_keys(
    setup: Setup,
) -> None:
    first = import_certificates(setup.request)
    old_key = (setup.target / "server.key").read_bytes()
    old_config = setup.config.read_bytes()
    master = (setup.target / "kmc.ks").read_bytes()
    renewed = setup.ca.issue("localhost")
    files = setup.ca.write_inputs(setup.root / "renewed", renewed)

    second = import_certificates(
        replace(setup.request, certificate=files.certificate, key=files.key, replace=True, crl=None)
    )

    assert not second.master_keys_created and first.master_keys_created
    assert (setup.target / "kmc.ks").read_bytes() == master
    assert second.backup is not None
    backup = second.backup
    assert stat.S_IMODE(backup.stat().st_mode) == 0o700
    assert sorted(p.name for p in backup.iterdir()) == [
        "ca.crl",
        "ca.crt",
        "server.crt",
        "server.key",
        "streamserver.conf",
    ]
    assert (backup / "server.key").read_bytes() == old_key
    assert (backup / "streamserver.conf").read_bytes() == old_config
    # The backed-up key still opens with the backed-up server_key_mm and the kept master keys.
    old_sealed = read_config_values(old_config)["server_key_mm"]
    serialization.load_pem_private_key(old_key, recover_key_password(setup.target, old_sealed))
    assert len((setup.target / "import.log").read_text().splitlines()) == 2


# -- refusals: each leaves the filesystem byte for byte as it was -----------------------------


def _chown(path: Path, uid: int) -> None:
    os.chown(path, uid, -1)


def _expired_crl(setup: Setup) -> None:
    assert setup.request.crl is not None
    now = datetime.now(UTC)
    setup.request.crl.chmod(0o600)
    setup.request.crl.write_bytes(
        setup.ca.crl(last_update=now - timedelta(days=10), next_update=now - timedelta(days=1))
    )


def _future_crl(setup: Setup) -> None:
    assert setup.request.crl is not None
    now = datetime.now(UTC)
    setup.request.crl.chmod(0o600)
    setup.request.crl.write_bytes(
        setup.ca.crl(last_update=now + timedelta(days=1), next_update=now + timedelta(days=8))
    )


def _revoking_crl(setup: Setup) -> None:
    assert setup.request.crl is not None
    setup.request.crl.chmod(0o600)
    setup.request.crl.write_bytes(setup.ca.crl(revoked=[setup.server]))


def _foreign_crl(setup: Setup) -> None:
    assert setup.request.crl is not None
    setup.request.crl.chmod(0o600)
    setup.request.crl.write_bytes(TinyCA("Stream Test CA").crl())  # same name, other key


def _write_key(setup: Setup, identity: Identity) -> None:
    setup.request.key.chmod(0o600)
    setup.request.key.write_bytes(identity.key_pem())
    setup.request.key.chmod(0o400)


def _write_certificate(setup: Setup, identity: Identity) -> None:
    setup.request.certificate.chmod(0o600)
    setup.request.certificate.write_bytes(identity.certificate_pem())


def _existing_target(setup: Setup) -> None:
    setup.target.mkdir(mode=0o700)
    (setup.target / "server.crt").write_bytes(b"an older certificate\n")


def _target_mode(setup: Setup) -> None:
    setup.target.mkdir()
    setup.target.chmod(0o755)


def _damaged_master_keys(setup: Setup) -> None:
    setup.target.mkdir(mode=0o700)
    for name in ("kmc.ks", "StandbyKsf.ks"):
        (setup.target / name).write_bytes(b"garbage")
        (setup.target / name).chmod(0o400)


def _mismatched_key(setup: Setup) -> None:
    _write_key(setup, setup.ca.issue("localhost"))


def _other_ca(setup: Setup) -> None:
    identity = TinyCA("Stream Test CA").issue("localhost")  # same CA name, another key
    _write_certificate(setup, identity)
    _write_key(setup, identity)


def _ec_key(setup: Setup) -> None:
    identity = setup.ca.issue("localhost", key_kind="ec")
    _write_certificate(setup, identity)
    _write_key(setup, identity)


def _small_rsa_key(setup: Setup) -> None:
    identity = setup.ca.issue("localhost", key_kind="rsa1024")
    _write_certificate(setup, identity)
    _write_key(setup, identity)


def _expired_certificate(setup: Setup) -> None:
    now = datetime.now(UTC)
    identity = setup.ca.issue(
        "localhost", not_before=now - timedelta(days=30), not_after=now - timedelta(days=1)
    )
    _write_certificate(setup, identity)
    _write_key(setup, identity)


def _garbage_ca(setup: Setup) -> None:
    setup.request.ca.chmod(0o600)
    setup.request.ca.write_bytes(b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n")


Refusal = tuple[Callable[[Setup], None], dict[str, object], type[CertwardError], str]

REFUSALS: dict[str, Refusal] = {
    "key readable by others": (
        lambda s: s.request.key.chmod(0o644),
        {},
        FilePermissionError,
        "chmod 400",
    ),
    "key group-writable": (lambda s: s.request.key.chmod(0o660), {}, FilePermissionError, "0660"),
    "certificate of another user": (
        lambda s: _chown(s.request.certificate, OTHER_UID),
        {},
        FilePermissionError,
        "server.crt belongs to",
    ),
    "key of another user": (
        lambda s: _chown(s.request.key, OTHER_UID),
        {},
        FilePermissionError,
        "chown",
    ),
    "crl of another user": (
        lambda s: _chown(s.request.crl, OTHER_UID),  # type: ignore[arg-type]
        {},
        FilePermissionError,
        "ca.crl belongs to",
    ),
    "target directory open to others": (
        _target_mode,
        {},
        FilePermissionError,
        "chmod 700",
    ),
    "target directory of another user": (
        lambda s: (s.target.mkdir(mode=0o700), _chown(s.target, OTHER_UID)),
        {},
        FilePermissionError,
        "target directory",
    ),
    "files already imported": (_existing_target, {}, ImportTargetExists, "--replace"),
    "config of another user": (
        lambda s: _chown(s.config, OTHER_UID),
        {},
        FilePermissionError,
        "config file",
    ),
    "password too long": (lambda s: None, {"password": "p" * 101}, PasswordError, "100"),
    "wrong password": (lambda s: None, {"password": "not it"}, PasswordError, "does not open"),
    "no password for an encrypted key": (lambda s: None, {"password": None}, PasswordError, ""),
    "key of another certificate": (_mismatched_key, {}, CertificateKeyMismatch, "key mismatch"),
    "certificate of another CA": (_other_ca, {}, CertificateUntrusted, "not signed by"),
    "expired server certificate": (_expired_certificate, {}, CertificateUntrusted, "expired"),
    "EC key without --allow-ec": (_ec_key, {}, KeyTypeNotAllowed, "--allow-ec"),
    "Ed25519 key even with --allow-ec": (
        lambda s: _write_key(s, Identity(s.server.certificate, new_key("ed25519"))),
        {"allow_ec": True},
        KeyTypeNotAllowed,
        "only RSA or EC",
    ),
    "RSA key under 2048 bits": (_small_rsa_key, {}, KeyTypeNotAllowed, "2048"),
    "server revoked by the CRL": (_revoking_crl, {}, CertificateRevoked, "revoked"),
    "expired CRL": (_expired_crl, {}, InvalidCRL, "expired"),
    "CRL not yet valid": (_future_crl, {}, InvalidCRL, "not valid yet"),
    "CRL of another CA": (_foreign_crl, {}, InvalidCRL, "not signed by"),
    "garbage CA file": (_garbage_ca, {}, InvalidCertificate, "CA certificate"),
    "damaged master keys": (_damaged_master_keys, {}, KeystoreCorrupt, "unusable"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_a_refused_import_leaves_the_filesystem_unchanged(setup: Setup, case: str) -> None:
    arrange, changes, error, words = REFUSALS[case]
    arrange(setup)
    before = snapshot_tree(setup.root)

    with pytest.raises(error) as raised:
        import_certificates(replace(setup.request, **changes))  # type: ignore[arg-type]

    assert words in raised.value.message
    assert PASSWORD not in raised.value.message
    assert snapshot_tree(setup.root) == before


def test_the_wrong_owner_message_names_the_file_and_the_fix(setup: Setup) -> None:
    _chown(setup.request.key, OTHER_UID)

    with pytest.raises(FilePermissionError) as raised:
        import_certificates(setup.request)

    assert str(setup.request.key) in raised.value.message
    assert "nobody (uid 65534)" in raised.value.message
    assert "run: chown" in raised.value.message


def _immutable(path: Path) -> Callable[[], None]:
    import subprocess

    result = subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"chattr +i is not available here: {result.stderr.decode().strip()}")
    return lambda: subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_failure_while_committing_puts_everything_back(setup: Setup) -> None:
    """The rename of the second displaced file fails (immutable file): the first comes back."""
    import_certificates(setup.request)
    renewed = setup.ca.issue("localhost")
    files = setup.ca.write_inputs(setup.root / "renewed", renewed)
    undo = _immutable(setup.target / "server.crt")
    try:
        before = snapshot_tree(setup.root)

        with pytest.raises(PermissionError):
            import_certificates(
                replace(setup.request, certificate=files.certificate, key=files.key, replace=True)
            )

        assert snapshot_tree(setup.root) == before
    finally:
        undo()


# -- CRL update of an earlier import ---------------------------------------------------------


def test_update_crl_swaps_the_crl_atomically_and_keeps_its_mode(setup: Setup) -> None:
    import_certificates(setup.request)
    client = setup.ca.issue("client-1", client=True)
    newer = setup.root / "in" / "newer.crl"
    newer.write_bytes(setup.ca.crl(revoked=[client]))
    inode = (setup.target / "ca.crl").stat().st_ino

    result = update_crl(newer, target=setup.target, config=setup.config)

    assert (setup.target / "ca.crl").read_bytes() == newer.read_bytes()
    assert stat.S_IMODE((setup.target / "ca.crl").stat().st_mode) == 0o400
    assert (setup.target / "ca.crl").stat().st_ino != inode  # renamed over, never rewritten
    assert result.revoked_count == 1
    assert read_config_values(setup.config.read_bytes())["crl"] == "../streamserver/keys/ca.crl"


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda s: s.ca.crl(number=1), InvalidCRL, "lower than"),
        (lambda s: s.ca.crl(revoked=[s.server]), CertificateRevoked, "revoked"),
        (lambda s: TinyCA("Stream Test CA").crl(), InvalidCRL, "not signed by"),
        (
            lambda s: s.ca.crl(
                last_update=datetime.now(UTC) - timedelta(days=9),
                next_update=datetime.now(UTC) - timedelta(days=2),
            ),
            InvalidCRL,
            "expired",
        ),
    ],
    ids=["older", "revokes the server", "other CA", "expired"],
)
def test_a_refused_crl_update_changes_nothing(
    setup: Setup, make: Callable[[Setup], bytes], error: type[CertwardError], words: str
) -> None:
    import_certificates(setup.request)
    current = setup.root / "in" / "current.crl"
    current.write_bytes(setup.ca.crl())
    update_crl(current, target=setup.target)
    candidate = setup.root / "in" / "candidate.crl"
    candidate.write_bytes(make(setup))
    before = snapshot_tree(setup.root)

    with pytest.raises(error) as raised:
        update_crl(candidate, target=setup.target, config=setup.config)

    assert words in raised.value.message
    assert snapshot_tree(setup.root) == before


def test_master_keys_are_read_back_by_the_keystore(setup: Setup) -> None:
    import_certificates(setup.request)

    keystore = Keystore.load(setup.target, create=False)

    assert keystore.key_ids == (1,)
