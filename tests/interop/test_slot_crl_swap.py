"""A peer service reading a slot's hash directory refuses a client once a CRL is installed.

The service is real (Python ``ssl``, OpenSSL's hash-dir lookup, ``VERIFY_CRL_CHECK_LEAF``)
and keeps running: the CRL arrives through the slot service (``install_crl``, which
adds the next ``hash.rN``), the next handshake of the revoked client fails, another
client still gets in. Its own identity comes from ``certward import``.
"""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from certward.ca.context import CAContext
from certward.certs.certimport import ImportRequest, import_certificates
from certward.certs.certimport_tls import (
    ImportedIdentity,
    LiveTrust,
    load_imported_identity,
    server_context,
)
from certward.certs.manager import install_certificate, install_crl
from certward.certs.slots import create_slot
from certward.config import SlotSettings
from tests.certs.certimport_material import PASSWORD, Identity, TinyCA
from tests.certs.certimport_server import TLSService, connect, tls_service

SLOT = "authority/peers"


@dataclass
class Peers:
    """The peers CA, its slot's hash directory, the service identity and two clients."""

    ctx: CAContext
    ca: TinyCA
    hash_dir: Path
    identity: ImportedIdentity
    alice: Identity
    alice_files: tuple[Path, Path]
    bob_files: tuple[Path, Path]
    server_ca: Path


@pytest.fixture
def peers(ca_context: CAContext, tmp_path: Path) -> Peers:
    ca = TinyCA("Peers CA")
    hash_dir = tmp_path / "lookup-hash-dir"
    create_slot(
        ca_context,
        SLOT,
        SlotSettings(directory=str(hash_dir), lookup_hash_directory=True, crl_enabled=True),
        actor="test",
    )
    install_certificate(ca_context, SLOT, ca.pem(), actor="test")
    install_crl(ca_context, SLOT, ca.crl(), actor="test")
    server = ca.issue("localhost")
    files = ca.write_inputs(tmp_path / "in", server)
    (tmp_path / "service").mkdir()
    config = tmp_path / "service" / "service.conf"
    import_certificates(
        ImportRequest(
            ca=files.ca,
            certificate=files.certificate,
            key=files.key,
            target=tmp_path / "service" / "keys",
            config=config,
            password=PASSWORD,
        )
    )
    alice, bob = ca.issue("alice", client=True), ca.issue("bob", client=True)
    return Peers(
        ctx=ca_context,
        ca=ca,
        hash_dir=hash_dir,
        identity=load_imported_identity(config),
        alice=alice,
        alice_files=alice.write_pair(tmp_path / "clients", "alice"),
        bob_files=bob.write_pair(tmp_path / "clients", "bob"),
        server_ca=files.ca,
    )


def _accepted(peers: Peers, service: TLSService, who: tuple[Path, Path]) -> bool:
    return connect(service.port, ca=peers.server_ca, cert=who[0], key=who[1]).accepted


@pytest.fixture(params=["openssl hash-dir lookup", "LiveTrust"])
def peer_service(request: pytest.FixtureRequest, peers: Peers) -> Iterator[TLSService]:
    """The peer service, trusting the slot's directory: as OpenSSL does, or rebuilt on change."""

    def build() -> ssl.SSLContext:
        return server_context(peers.identity, peers_hash_dir=peers.hash_dir, crl_enabled=True)

    context = (
        LiveTrust(build, watched=[peers.hash_dir]).base if request.param == "LiveTrust" else build()
    )
    with tls_service(context) as service:
        yield service


@pytest.mark.interop
def test_an_installed_crl_revokes_a_client_without_restarting_the_service(
    peers: Peers, peer_service: TLSService
) -> None:
    assert _accepted(peers, peer_service, peers.alice_files)

    installed = install_crl(peers.ctx, SLOT, peers.ca.crl(revoked=[peers.alice]), actor="test")

    assert installed.file_name.endswith(".r1")
    assert not _accepted(peers, peer_service, peers.alice_files)
    assert _accepted(peers, peer_service, peers.bob_files)
    assert any("revoked" in refusal for refusal in peer_service.refusals)


@pytest.mark.interop
def test_openssl_verify_agrees_with_the_service(peers: Peers, openssl: str) -> None:
    install_crl(peers.ctx, SLOT, peers.ca.crl(revoked=[peers.alice]), actor="test")

    def verify(certificate: Path) -> str:
        result = subprocess.run(
            [openssl, "verify", "-crl_check", "-CApath", str(peers.hash_dir), str(certificate)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        return result.stdout + result.stderr

    assert f"{peers.bob_files[0]}: OK" in verify(peers.bob_files[0])
    assert "certificate revoked" in verify(peers.alice_files[0])
