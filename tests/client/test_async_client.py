"""``certward.client.AsyncClient`` against a real ``certward serve``: the operations, awaited."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certward.access.grants import Grant, Permission
from certward.ca.authority import CAInfo
from certward.ca.factory import IssuedCertificate
from certward.ca.inventory import CertificateStatus, CertificateSummary
from certward.ca.revoke import RevokedCertificate
from certward.client import AsyncClient
from certward.errors import (
    AccessDenied,
    CANotFound,
    CertificateNotFound,
    PolicyViolation,
    ServiceUnavailable,
    Unauthenticated,
)
from tests.client.live_server import LiveServer, dropping_listener, free_port, running_server

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("async-client") / "data") as live:
        yield live


@pytest.fixture
async def admin(server: LiveServer) -> AsyncIterator[AsyncClient]:
    # Per test: an httpx.AsyncClient belongs to the event loop of the test that made it.
    async with server.async_client() as client:
        yield client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_whoami_names_the_admin(admin: AsyncClient) -> None:
    identity = await admin.whoami()

    assert identity.name == "admin"
    assert identity.request_id


async def test_ca_reads_answer_ca_infos_and_public_material(admin: AsyncClient) -> None:
    cas = await admin.list_cas()
    info = await admin.get_ca("issuing")
    certificate = await admin.ca_certificate("issuing")
    chain = await admin.ca_chain("issuing")
    crl = await admin.crl("issuing")

    assert {"root", "issuing"} <= {item.name for item in cas}
    assert isinstance(info, CAInfo) and info.parent == "root"
    assert certificate.certificate == chain.certificates[0]
    assert x509.load_pem_x509_certificate(info.certificate_pem) == certificate.certificate
    assert crl.crl.issuer == certificate.certificate.subject
    assert len({cas.request_id, info.request_id, certificate.request_id, crl.request_id}) == 4


async def test_create_ca_makes_a_root(admin: AsyncClient) -> None:
    name = unique("async-root")

    info = await admin.create_ca(name, subject=f"/CN={name}", key_type="ec-p384", path_length=1)

    assert (info.name, info.parent, info.key_type, info.path_length) == (
        name,
        None,
        "ec-p384",
        1,
    )
    assert (await admin.get_ca(name)).serial == info.serial


async def test_publish_crl_issues_the_next_number(admin: AsyncClient) -> None:
    before = (await admin.crl("issuing")).number

    published = await admin.publish_crl("issuing")

    assert published.number == before + 1
    assert (await admin.crl("issuing")).number == published.number


async def test_issue_certificate_returns_the_key(admin: AsyncClient) -> None:
    issued = await admin.issue_certificate(
        ca="issuing", profile="server", common_name="async.example", sans=["DNS:async.example"]
    )

    assert isinstance(issued, IssuedCertificate)
    assert issued.private_key is not None
    assert issued.private_key.public_key() == issued.certificate.public_key()


async def test_sign_csr_certifies_the_key_of_the_csr(admin: AsyncClient) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "async-csr")]))
        .sign(key, hashes.SHA256())
    )

    issued = await admin.sign_csr(
        ca="issuing", profile="client", csr_pem=csr.public_bytes(serialization.Encoding.PEM)
    )

    assert issued.certificate.public_key() == key.public_key()
    assert issued.private_key is None


async def test_inventory_lists_gets_and_revokes(admin: AsyncClient) -> None:
    tag = unique("async-inventory")
    issued = await admin.issue_certificate(ca="issuing", profile="client", common_name=tag)

    page = await admin.list_certificates(
        search=tag, expiring_before=datetime.now(UTC) + timedelta(days=3650)
    )
    summary = await admin.get_certificate(issued.serial)
    revoked = await admin.revoke_certificate(issued.serial, reason="superseded")
    after = await admin.list_certificates(search=tag, status=CertificateStatus.REVOKED)

    assert [item.serial for item in page.items] == [issued.serial]
    assert isinstance(summary, CertificateSummary) and summary.common_name == tag
    assert isinstance(revoked, RevokedCertificate) and revoked.reason == "superseded"
    assert [item.status for item in after.items] == [CertificateStatus.REVOKED]


async def test_principals_are_created_listed_read_and_disabled(admin: AsyncClient) -> None:
    name = unique("async-app")

    credentials = await admin.create_principal(
        name, [Grant(Permission.CA_ISSUE, resources=("issuing",), profiles=("client",))]
    )
    listed = await admin.list_principals()
    fetched = await admin.get_principal(name)
    disabled = await admin.disable_principal(name)

    assert credentials.principal.name == name and credentials.pkcs12_password
    assert name in {principal.name for principal in listed}
    assert fetched.grants[0].profiles == ("client",)
    assert fetched.enabled and not disabled.enabled


async def test_audit_holds_the_request_id_of_a_mutation(admin: AsyncClient) -> None:
    common_name = unique("async-audit")
    issued = await admin.issue_certificate(ca="issuing", profile="client", common_name=common_name)

    page = await admin.audit(target=common_name, since=datetime.now(UTC) - timedelta(hours=1))

    assert [event.request_id for event in page.items] == [issued.request_id]


async def test_server_errors_arrive_as_their_classes_with_request_ids(admin: AsyncClient) -> None:
    with pytest.raises(CANotFound) as no_ca:
        await admin.get_ca("missing")
    with pytest.raises(CertificateNotFound) as no_certificate:
        await admin.get_certificate("0badc0de")
    with pytest.raises(PolicyViolation) as no_profile:
        await admin.issue_certificate(ca="issuing", profile="no-such-profile", common_name="x")

    assert (no_ca.value.http_status, no_certificate.value.http_status) == (404, 404)
    assert no_profile.value.http_status == 422
    assert all(e.value.request_id for e in (no_ca, no_certificate, no_profile))


async def test_from_bundle_with_the_admin_p12(server: LiveServer) -> None:
    async with AsyncClient.from_bundle(
        server.admin_p12, server.admin_p12_password, url=server.url
    ) as client:
        assert (await client.whoami()).name == "admin"


async def test_revoked_principal_is_refused_at_the_handshake(
    admin: AsyncClient, server: LiveServer, tmp_path: Path
) -> None:
    credentials = await admin.create_principal(unique("async-gone"), [Grant(Permission.CA_READ)])
    bundle = tmp_path / "gone.p12"
    bundle.write_bytes(credentials.pkcs12)

    await admin.disable_principal(credentials.principal.name)

    deadline = time.monotonic() + 5
    refusal: Unauthenticated | None = None
    while refusal is None and time.monotonic() < deadline:
        async with AsyncClient.from_bundle(
            bundle, credentials.pkcs12_password, url=server.url
        ) as client:
            try:
                await client.whoami()
            except Unauthenticated as exc:
                refusal = exc
            except AccessDenied:
                continue  # the handshake passed before the new CRL was in force
    assert refusal is not None
    assert "certificate revoked" in refusal.message


async def test_get_on_a_dead_port_raises_service_unavailable_quickly(server: LiveServer) -> None:
    started = time.monotonic()

    async with AsyncClient(f"https://127.0.0.1:{free_port()}", ca=server.ca_file) as client:
        with pytest.raises(ServiceUnavailable) as raised:
            await client.whoami()

    assert time.monotonic() - started < 5
    assert "after 3 attempts" in raised.value.message


async def test_get_is_retried_after_connection_failures(server: LiveServer) -> None:
    with dropping_listener() as listener:
        async with AsyncClient(listener.url, ca=server.ca_file, retries=2) as client:
            with pytest.raises(ServiceUnavailable):
                await client.list_principals()

    assert listener.accepted == 3


async def test_post_is_retried_like_a_get(server: LiveServer) -> None:
    with dropping_listener() as listener:
        async with AsyncClient(listener.url, ca=server.ca_file, retries=2) as client:
            with pytest.raises(ServiceUnavailable):
                await client.create_principal("never", [Grant(Permission.CA_READ)])

    assert listener.accepted == 3


async def test_a_client_with_several_servers_moves_past_one_that_is_down(
    server: LiveServer,
) -> None:
    with dropping_listener() as down:
        async with AsyncClient(
            [down.url, server.url], cert=server.admin_cert, key=server.admin_key, ca=server.ca_file
        ) as client:
            identity = await client.whoami()

    assert identity.name == "admin"
    assert down.accepted == 1
