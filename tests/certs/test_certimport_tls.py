"""A service loads what ``certward import`` wrote, serves TLS with it, and takes new CRLs live."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certward.certs.certimport import ImportRequest, import_certificates, update_crl
from certward.certs.certimport_tls import (
    ImportedIdentity,
    LiveTrust,
    load_imported_identity,
    server_context,
)
from certward.crypto.subject_hash import certificate_subject_hash, crl_issuer_hash
from certward.errors import DecryptionFailed
from tests.certs.certimport_material import PASSWORD, Identity, TinyCA
from tests.certs.certimport_server import TLSService, connect, tls_service


@dataclass
class Deployment:
    """An import into ``streamserver/keys`` and two client identities of the same CA."""

    root: Path
    ca: TinyCA
    config: Path
    alice: tuple[Path, Path]
    bob: tuple[Path, Path]
    alice_identity: Identity

    @property
    def keys(self) -> Path:
        return self.root / "streamserver" / "keys"

    @property
    def ca_file(self) -> Path:
        return self.keys / "ca.crt"


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    ca = TinyCA("Stream CA")
    server = ca.issue("localhost")
    files = ca.write_inputs(tmp_path / "in", server)
    crl = tmp_path / "in" / "ca.crl"
    crl.write_bytes(ca.crl())
    (tmp_path / "streamserver").mkdir()
    config = tmp_path / "streamserver" / "streamserver.conf"
    import_certificates(
        ImportRequest(
            ca=files.ca,
            certificate=files.certificate,
            key=files.key,
            crl=crl,
            target=tmp_path / "streamserver" / "keys",
            config=config,
            password=PASSWORD,
        )
    )
    alice = ca.issue("alice", client=True)
    bob = ca.issue("bob", client=True)
    return Deployment(
        root=tmp_path,
        ca=ca,
        config=config,
        alice=alice.write_pair(tmp_path / "clients", "alice"),
        bob=bob.write_pair(tmp_path / "clients", "bob"),
        alice_identity=alice,
    )


@pytest.fixture
def identity(deployment: Deployment) -> ImportedIdentity:
    return load_imported_identity(deployment.config)


@pytest.fixture
def live_service(deployment: Deployment, identity: ImportedIdentity) -> Iterator[LiveTrust]:
    trust = LiveTrust(
        lambda: server_context(identity, crl_enabled=True), watched=identity.trust_files()
    )
    yield trust


def _client(deployment: Deployment, service: TLSService, who: tuple[Path, Path]) -> bool:
    return connect(service.port, ca=deployment.ca_file, cert=who[0], key=who[1]).accepted


def test_the_service_serves_the_imported_certificate(
    deployment: Deployment, identity: ImportedIdentity
) -> None:
    with tls_service(server_context(identity)) as service:
        outcome = connect(
            service.port, ca=deployment.ca_file, cert=deployment.alice[0], key=deployment.alice[1]
        )

    assert outcome.answer == "hello alice\n"
    assert outcome.server_certificate is not None
    served = x509.load_der_x509_certificate(outcome.server_certificate)
    assert served.public_bytes(Encoding.PEM) == (deployment.keys / "server.crt").read_bytes()


def test_the_imported_key_is_decrypted_with_the_master_keys(
    deployment: Deployment, identity: ImportedIdentity
) -> None:
    key = identity.private_key()

    certificate = x509.load_pem_x509_certificate((deployment.keys / "server.crt").read_bytes())
    assert key.public_key() == certificate.public_key()


def test_a_client_without_a_certificate_is_refused(
    deployment: Deployment, identity: ImportedIdentity
) -> None:
    with tls_service(server_context(identity)) as service:
        outcome = connect(service.port, ca=deployment.ca_file)

    assert not outcome.accepted


def test_openssl_s_client_verifies_the_served_chain(
    deployment: Deployment, identity: ImportedIdentity, openssl: str
) -> None:
    with tls_service(server_context(identity)) as service:
        result = subprocess.run(
            [
                openssl, "s_client", "-connect", f"127.0.0.1:{service.port}",
                "-CAfile", str(deployment.ca_file), "-verify_return_error",
                "-cert", str(deployment.alice[0]), "-key", str(deployment.alice[1]),
                "-servername", "localhost", "-ign_eof",
            ],
            input=b"hi\n", capture_output=True, timeout=30, check=False,
        )  # fmt: skip

    assert b"Verify return code: 0 (ok)" in result.stdout
    assert b"hello alice" in result.stdout


def test_other_master_keys_do_not_open_server_key_mm(
    deployment: Deployment, tmp_path: Path
) -> None:
    other = tmp_path / "other-keys"
    other.mkdir(mode=0o700)
    from certward.keystore import Keystore

    Keystore.load(other, create=True)

    with pytest.raises(DecryptionFailed):
        load_imported_identity(deployment.config, keys_dir=other)


# -- CRL replaced while the service runs -----------------------------------------------------


def _write_crl_the_seed_way(path: Path, data: bytes) -> None:
    """Seed 000: delete the CRL, copy the new file under the same name, chmod 400."""
    path.unlink()
    path.write_bytes(data)
    path.chmod(0o400)


def test_a_crl_replaced_the_seed_way_revokes_a_client_without_restart(
    deployment: Deployment, live_service: LiveTrust
) -> None:
    with tls_service(live_service.base) as service:
        assert _client(deployment, service, deployment.alice)

        _write_crl_the_seed_way(
            deployment.keys / "ca.crl", deployment.ca.crl(revoked=[deployment.alice_identity])
        )

        assert not _client(deployment, service, deployment.alice)
        assert _client(deployment, service, deployment.bob)
    assert any("revoked" in refusal for refusal in service.refusals)
    assert live_service.generation == 1


def test_a_crl_replaced_by_certward_import_revokes_a_client_without_restart(
    deployment: Deployment, live_service: LiveTrust
) -> None:
    new_crl = deployment.root / "in" / "new.crl"
    new_crl.write_bytes(deployment.ca.crl(revoked=[deployment.alice_identity]))
    with tls_service(live_service.base) as service:
        assert _client(deployment, service, deployment.alice)

        update_crl(new_crl, target=deployment.keys, config=deployment.config)

        assert not _client(deployment, service, deployment.alice)
        assert _client(deployment, service, deployment.bob)


def test_without_live_trust_a_crl_replaced_in_place_is_not_seen(
    deployment: Deployment, identity: ImportedIdentity
) -> None:
    """Why LiveTrust exists: a context keeps the CRLs it loaded at start."""
    with tls_service(server_context(identity, crl_enabled=True)) as service:
        _write_crl_the_seed_way(
            deployment.keys / "ca.crl", deployment.ca.crl(revoked=[deployment.alice_identity])
        )

        assert _client(deployment, service, deployment.alice)


def test_a_service_keeps_serving_while_the_crl_is_missing_mid_swap(
    deployment: Deployment, live_service: LiveTrust
) -> None:
    with tls_service(live_service.base) as service:
        (deployment.keys / "ca.crl").unlink()  # the moment between "delete" and "copy"

        assert _client(deployment, service, deployment.bob)

        (deployment.keys / "ca.crl").write_bytes(deployment.ca.crl())
        assert _client(deployment, service, deployment.bob)


# -- peers hash directory (seed 004) ---------------------------------------------------------


@pytest.fixture
def hash_dir(deployment: Deployment) -> Path:
    """A lookup hash directory with the CA as ``hash.0`` and an empty CRL as ``hash.r0``."""
    directory = deployment.root / "lookup-hash-dir"
    directory.mkdir()
    ca = deployment.ca.certificate
    shutil.copyfile(deployment.keys / "ca.crt", directory / f"{certificate_subject_hash(ca)}.0")
    crl = x509.load_pem_x509_crl(deployment.ca.crl())
    (directory / f"{crl_issuer_hash(crl)}.r0").write_bytes(crl.public_bytes(Encoding.PEM))
    return directory


def test_openssl_names_match_the_hash_directory(hash_dir: Path, openssl: str) -> None:
    names = sorted(os.listdir(hash_dir))
    printed = subprocess.run(
        [openssl, "x509", "-noout", "-subject_hash", "-in", str(hash_dir / names[0])],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip

    assert names == [f"{printed}.0", f"{printed}.r0"]


def test_a_new_crl_numbered_up_in_the_hash_dir_revokes_without_rebuilding(
    deployment: Deployment, identity: ImportedIdentity, hash_dir: Path
) -> None:
    """Seed 004's way (hash.r1 next to hash.r0): OpenSSL's own lookup picks it up."""
    context = server_context(identity, peers_hash_dir=hash_dir, crl_enabled=True)
    with tls_service(context) as service:
        assert _client(deployment, service, deployment.alice)

        crl = x509.load_pem_x509_crl(deployment.ca.crl(revoked=[deployment.alice_identity]))
        (hash_dir / f"{crl_issuer_hash(crl)}.r1").write_bytes(crl.public_bytes(Encoding.PEM))

        assert not _client(deployment, service, deployment.alice)
        assert _client(deployment, service, deployment.bob)


def test_a_crl_replaced_under_the_same_name_in_the_hash_dir_revokes_with_live_trust(
    deployment: Deployment, identity: ImportedIdentity, hash_dir: Path
) -> None:
    trust = LiveTrust(
        lambda: server_context(identity, peers_hash_dir=hash_dir, crl_enabled=True),
        watched=[hash_dir],
    )
    with tls_service(trust.base) as service:
        assert _client(deployment, service, deployment.alice)

        crl = x509.load_pem_x509_crl(deployment.ca.crl(revoked=[deployment.alice_identity]))
        _write_crl_the_seed_way(
            hash_dir / f"{crl_issuer_hash(crl)}.r0", crl.public_bytes(Encoding.PEM)
        )

        assert not _client(deployment, service, deployment.alice)
        assert _client(deployment, service, deployment.bob)


def test_with_crl_enabled_a_ca_without_any_crl_fails_every_client(
    deployment: Deployment, identity: ImportedIdentity, hash_dir: Path
) -> None:
    """Seed 004: "for each certificate at least one CRL must be in the directory"."""
    for name in os.listdir(hash_dir):
        if ".r" in name:
            (hash_dir / name).unlink()
    context = server_context(identity, peers_hash_dir=hash_dir, crl_enabled=True)
    with tls_service(context) as service:
        assert not _client(deployment, service, deployment.bob)
    assert any("unable to get certificate CRL" in refusal for refusal in service.refusals)
