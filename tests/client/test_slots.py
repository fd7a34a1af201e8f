"""``Client``'s slot methods against a real ``certward serve``: slots, certificates, CRLs, CSRs."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certward.access.grants import Grant, Permission
from certward.certs.certificates import SlotCertificate
from certward.certs.crl import SlotCRL
from certward.certs.jobs import CSRJob, JobState
from certward.certs.slots import SlotKind, SlotSpec
from certward.client import Client
from certward.crypto.keys import private_key_to_pkcs8
from certward.errors import (
    AccessDenied,
    CertificateKeyMismatch,
    CSRJobNotFound,
    InvalidCSRRequest,
    InvalidName,
    ServiceUnavailable,
    SlotCertificateNotFound,
    SlotNotFound,
)
from tests.certs.factory import TestCA
from tests.client.live_server import LiveServer, dropping_listener, running_server

# Redfish GenerateCSR's required fields, in the SDK's keyword names.
SUBJECT: dict[str, Any] = {
    "organization": "Example",
    "organizational_unit": "IT",
    "city": "Lyon",
    "state": "ARA",
    "country": "FR",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("slots-client") / "data") as live:
        yield live


@pytest.fixture(scope="module")
def admin(server: LiveServer) -> Iterator[Client]:
    with server.client() as client:
        yield client


def unique(kind: str) -> str:
    return f"{kind}/sdk-{uuid.uuid4().hex[:8]}"


# -- slots ----------------------------------------------------------------------------


def test_add_slot_answers_the_slot_spec_with_its_settings(admin: Client, tmp_path: Path) -> None:
    name = unique("server")

    slot = admin.add_slot(
        name,
        directory=tmp_path / "tls",
        cert_file="web.crt",
        key_file="web.key",
        mode_file=0o440,
        host_name="web.example.test",
        reload_command=["/bin/true"],
    )

    assert isinstance(slot, SlotSpec)
    assert (slot.name, slot.kind, slot.directory) == (name, SlotKind.SERVER, tmp_path / "tls")
    assert (slot.cert_file, slot.key_file, slot.mode_file) == ("web.crt", "web.key", 0o440)
    assert (slot.reload.kind, slot.reload.command) == ("command", ("/bin/true",))
    assert (slot.host_name, slot.source) == ("web.example.test", "api")
    assert slot.request_id


def test_get_slot_and_list_slots_show_an_added_slot(admin: Client, tmp_path: Path) -> None:
    name = unique("client")
    added = admin.add_slot(name, directory=tmp_path, key_types=["EC"])

    got = admin.get_slot(name)
    listed = admin.list_slots()

    assert got.key_types == added.key_types == ("EC",)
    assert got.request_id != added.request_id
    assert name in [slot.name for slot in listed]
    assert listed.request_id


def test_remove_slot_forgets_the_slot_and_leaves_its_files(admin: Client, tmp_path: Path) -> None:
    name = unique("server")
    admin.add_slot(name, directory=tmp_path / "tls")
    admin.install_slot_certificate(name, TestCA().issue().bundle_pem)

    removed = admin.remove_slot(name)

    assert (removed.name, bool(removed.request_id)) == (name, True)
    assert (tmp_path / "tls" / "cert.pem").exists()
    with pytest.raises(SlotNotFound) as raised:
        admin.get_slot(name)
    assert raised.value.http_status == 404
    assert raised.value.request_id


def test_a_slot_name_must_be_kind_and_label_and_is_refused_before_sending(
    admin: Client,
) -> None:
    for name in ("https", "server/a/b", "/https", "server/", ""):
        with pytest.raises(InvalidName) as raised:
            admin.get_slot(name)
        assert raised.value.request_id is None


def test_a_label_is_one_path_segment_whatever_it_holds(admin: Client) -> None:
    with pytest.raises(SlotNotFound) as raised:
        admin.get_slot("server/..")

    assert "server/.." in raised.value.message


# -- certificates -----------------------------------------------------------------------


def test_install_replace_delete_a_server_slot_certificate(admin: Client, tmp_path: Path) -> None:
    name = unique("server")
    directory = tmp_path / "tls"
    admin.add_slot(name, directory=directory, host_name="fallback.example.test")
    ca = TestCA("SDK Slots")
    first, second = ca.issue("one.example.test"), ca.issue("two.example.test")

    installed = admin.install_slot_certificate(name, first.bundle_pem)
    replaced = admin.replace_slot_certificate(
        name, installed.id, second.chain_pem.decode(), key_pem=second.key_pem
    )
    listed = admin.slot_certificates(name)
    deleted = admin.delete_slot_certificate(name, replaced.id)

    assert isinstance(installed, SlotCertificate)
    assert installed.certificate == first.certificate
    assert replaced.subject == "CN=two.example.test"
    assert [c.id for c in listed] == [replaced.id]
    assert deleted.deleted == replaced.id
    assert deleted.replacement is not None
    assert deleted.replacement.subject == "CN=fallback.example.test"
    assert (directory / "cert.pem").read_bytes() == deleted.replacement.pem
    assert len({installed.request_id, replaced.request_id, deleted.request_id}) == 3


def test_get_slot_certificate_answers_one_by_id(admin: Client, tmp_path: Path) -> None:
    name = unique("client")
    admin.add_slot(name, directory=tmp_path)
    installed = admin.install_slot_certificate(name, TestCA().issue(client=True).bundle_pem)

    got = admin.get_slot_certificate(name, installed.id)

    assert (got.id, got.fingerprint_sha256, got.pem) == (
        installed.id,
        installed.fingerprint_sha256,
        installed.pem,
    )
    with pytest.raises(SlotCertificateNotFound):
        admin.get_slot_certificate(name, "0123456789abcdef")


def test_a_key_that_does_not_match_is_refused_with_the_request_id(
    admin: Client, tmp_path: Path
) -> None:
    name = unique("server")
    admin.add_slot(name, directory=tmp_path / "tls")
    ca = TestCA()
    leaf, other = ca.issue(), ca.issue()

    with pytest.raises(CertificateKeyMismatch) as raised:
        admin.install_slot_certificate(name, leaf.chain_pem, key_pem=other.key_pem)

    assert raised.value.http_status == 400
    assert raised.value.request_id
    assert len(admin.slot_certificates(name)) == 0


# -- CRLs -------------------------------------------------------------------------------


def test_crls_go_into_an_authority_hash_directory_slot(admin: Client, tmp_path: Path) -> None:
    name = unique("authority")
    directory = tmp_path / "peers"
    admin.add_slot(name, directory=directory, lookup_hash_directory=True, crl_enabled=True)
    ca = TestCA("SDK Peers")
    admin.install_slot_certificate(name, ca.cert_pem)

    first = admin.install_slot_crl(name, ca.crl())
    second = admin.install_slot_crl(name, ca.crl().public_bytes(Encoding.DER))
    listed = admin.slot_crls(name)

    assert isinstance(first, SlotCRL)
    assert (first.crl_number, second.crl_number) == (1, 2)
    assert second.file_name.endswith(".r1")
    assert (directory / second.file_name).read_bytes().startswith(b"-----BEGIN X509 CRL")
    assert second.issuer == first.issuer
    assert second.file_name in [crl.file_name for crl in listed]
    assert listed.request_id


# -- CSR jobs ---------------------------------------------------------------------------


def test_a_csr_job_signed_with_certwards_ca_installs_the_certificate(
    admin: Client, tmp_path: Path
) -> None:
    name = unique("server")
    admin.add_slot(name, directory=tmp_path / "tls")

    job = admin.request_slot_csr(
        name,
        common_name="csr.example.test",
        alternative_names=["csr.example.test"],
        sign_with="issuing",
        **SUBJECT,
    )
    done = admin.wait_for_csr_job(job.id, timeout=120)

    assert isinstance(job, CSRJob) and job.request_id
    assert (done.id, done.state, done.sign_with) == (job.id, JobState.SUCCEEDED, "issuing")
    assert done.csr_pem is not None
    installed = admin.get_slot_certificate(name, str(done.certificate_id))
    csr = x509.load_pem_x509_csr(done.csr_pem.encode())
    assert installed.certificate.public_key() == csr.public_key()
    assert installed.subject.startswith("CN=csr.example.test")


def test_a_failed_csr_job_is_returned_with_its_error_code(admin: Client, tmp_path: Path) -> None:
    # A server slot holds one certificate: signing and installing a second one fails.
    name = unique("server")
    admin.add_slot(name, directory=tmp_path / "tls")
    admin.install_slot_certificate(name, TestCA().issue().bundle_pem)

    job = admin.request_slot_csr(
        name, common_name="full.example.test", sign_with="issuing", **SUBJECT
    )
    done = admin.wait_for_csr_job(job.id, timeout=120)

    assert done.done and done.state is JobState.FAILED
    assert done.error_code == "slot.not_allowed"
    assert done.error_message


def test_a_bad_csr_field_is_refused_naming_it(admin: Client, tmp_path: Path) -> None:
    name = unique("server")
    admin.add_slot(name, directory=tmp_path)

    with pytest.raises(InvalidCSRRequest) as raised:
        admin.request_slot_csr(name, common_name="x", **{**SUBJECT, "country": "France"})

    assert "country" in raised.value.message
    assert raised.value.request_id


def test_an_unknown_job_raises_csr_job_not_found(admin: Client) -> None:
    with pytest.raises(CSRJobNotFound) as raised:
        admin.get_csr_job(uuid.uuid4().hex)

    assert raised.value.http_status == 404


# -- access and transport ---------------------------------------------------------------


def test_a_principal_sees_and_changes_only_the_slots_it_manages(
    admin: Client, server: LiveServer, tmp_path: Path
) -> None:
    mine, other = unique("server"), unique("server")
    admin.add_slot(mine, directory=tmp_path / "mine")
    admin.add_slot(other, directory=tmp_path / "other")
    credentials = admin.create_principal(
        f"slots-{uuid.uuid4().hex[:8]}", [Grant(Permission.CERTS_MANAGE, resources=(mine,))]
    )
    bundle = tmp_path / "app.p12"
    bundle.write_bytes(credentials.pkcs12)

    with Client.from_bundle(bundle, credentials.pkcs12_password, url=server.url) as app:
        listed = [slot.name for slot in app.list_slots()]
        app.install_slot_certificate(mine, TestCA().issue().bundle_pem)
        with pytest.raises(AccessDenied) as raised:
            app.get_slot(other)
        with pytest.raises(AccessDenied):
            app.add_slot(unique("server"), directory=tmp_path / "new")

    assert listed == [mine]
    assert raised.value.http_status == 403 and raised.value.request_id


@pytest.fixture(scope="module")
def impostor_tls(admin: Client, tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A server context the client trusts, for a listener that reads requests, never answers."""
    issued = admin.issue_certificate(
        ca="issuing", profile="server", common_name="127.0.0.1", sans=["IP:127.0.0.1"]
    )
    assert issued.private_key is not None
    directory = tmp_path_factory.mktemp("slots-impostor")
    (directory / "chain.pem").write_bytes(
        b"".join(cert.public_bytes(Encoding.PEM) for cert in issued.full_chain[:-1])
    )
    (directory / "key.pem").write_bytes(private_key_to_pkcs8(issued.private_key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "chain.pem", directory / "key.pem")
    return context


def test_slot_changes_carry_an_idempotency_key_and_reads_none(
    server: LiveServer, impostor_tls: ssl.SSLContext
) -> None:
    with dropping_listener(impostor_tls) as listener:
        client = Client(listener.url, ca=server.ca_file, retries=0)
        for change in (
            lambda: client.get_slot("server/web"),
            lambda: client.replace_slot_certificate("server/web", "0" * 16, "PEM"),
            lambda: client.delete_slot_certificate("server/web", "0" * 16),
            lambda: client.remove_slot("server/web"),
        ):
            with pytest.raises(ServiceUnavailable):
                change()

    methods = [head.split(b" ", 1)[0] for head in listener.heads]
    keyed = [b"\r\nidempotency-key:" in head.lower() for head in listener.heads]
    assert methods == [b"GET", b"PUT", b"DELETE", b"DELETE"]
    assert keyed == [False, True, True, True]
    assert len(set(listener.header_values(b"idempotency-key"))) == 3
