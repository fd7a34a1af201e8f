"""``AsyncClient``'s slot methods against a real ``certward serve``: the same calls, awaited."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certward.certs.certificates import SlotCertificate
from certward.certs.jobs import JobState
from certward.certs.slots import SlotKind, SlotSpec
from certward.client import AsyncClient
from certward.errors import CertificateKeyMismatch, InvalidName, SlotNotFound
from tests.certs.factory import TestCA
from tests.client.live_server import LiveServer, running_server

pytestmark = pytest.mark.anyio

SUBJECT: dict[str, Any] = {
    "organization": "Example",
    "organizational_unit": "IT",
    "city": "Lyon",
    "state": "ARA",
    "country": "FR",
}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with running_server(tmp_path_factory.mktemp("slots-async") / "data") as live:
        yield live


@pytest.fixture
async def admin(server: LiveServer) -> AsyncIterator[AsyncClient]:
    # Per test: an httpx.AsyncClient belongs to the event loop of the test that made it.
    async with server.async_client() as client:
        yield client


def unique(kind: str) -> str:
    return f"{kind}/async-{uuid.uuid4().hex[:8]}"


async def test_add_get_list_and_remove_a_slot(admin: AsyncClient, tmp_path: Path) -> None:
    name = unique("client")

    added = await admin.add_slot(name, directory=tmp_path, reload_url="https://hooks.test/reload")
    got = await admin.get_slot(name)
    listed = await admin.list_slots()
    removed = await admin.remove_slot(name)

    assert isinstance(added, SlotSpec) and added.kind is SlotKind.CLIENT
    assert (got.reload.kind, got.reload.url) == ("webhook", "https://hooks.test/reload")
    assert name in [slot.name for slot in listed]
    assert removed.name == name
    assert len({added.request_id, got.request_id, listed.request_id, removed.request_id}) == 4
    with pytest.raises(SlotNotFound) as raised:
        await admin.get_slot(name)
    assert raised.value.request_id


async def test_install_replace_delete_a_server_slot_certificate(
    admin: AsyncClient, tmp_path: Path
) -> None:
    name = unique("server")
    directory = tmp_path / "tls"
    await admin.add_slot(name, directory=directory, host_name="fallback.example.test")
    ca = TestCA("Async Slots")
    first, second = ca.issue("one.example.test"), ca.issue("two.example.test")

    installed = await admin.install_slot_certificate(name, first.bundle_pem)
    replaced = await admin.replace_slot_certificate(
        name, installed.id, second.chain_pem, key_pem=second.key_pem
    )
    listed = await admin.slot_certificates(name)
    deleted = await admin.delete_slot_certificate(name, replaced.id)

    assert isinstance(installed, SlotCertificate)
    assert replaced.certificate == second.certificate
    assert [c.id for c in listed] == [replaced.id]
    assert deleted.replacement is not None
    assert (directory / "cert.pem").read_bytes() == deleted.replacement.pem


async def test_a_key_that_does_not_match_is_refused_with_the_request_id(
    admin: AsyncClient, tmp_path: Path
) -> None:
    name = unique("server")
    await admin.add_slot(name, directory=tmp_path)
    ca = TestCA()

    with pytest.raises(CertificateKeyMismatch) as raised:
        await admin.install_slot_certificate(name, ca.issue().chain_pem, key_pem=ca.issue().key_pem)

    assert raised.value.request_id and raised.value.http_status == 400


async def test_a_crl_goes_into_an_authority_hash_directory_slot(
    admin: AsyncClient, tmp_path: Path
) -> None:
    name = unique("authority")
    await admin.add_slot(name, directory=tmp_path, lookup_hash_directory=True, crl_enabled=True)
    ca = TestCA("Async Peers")
    await admin.install_slot_certificate(name, ca.cert_pem)

    installed = await admin.install_slot_crl(name, ca.crl().public_bytes(Encoding.PEM))
    listed = await admin.slot_crls(name)

    assert installed.file_name.endswith(".r0") and installed.crl_number == 1
    assert [crl.file_name for crl in listed] == [installed.file_name]


async def test_a_csr_job_signed_with_certwards_ca_is_waited_for(
    admin: AsyncClient, tmp_path: Path
) -> None:
    name = unique("client")
    await admin.add_slot(name, directory=tmp_path)

    job = await admin.request_slot_csr(
        name, common_name="async.example.test", sign_with="issuing", **SUBJECT
    )
    done = await admin.wait_for_csr_job(job.id, timeout=120)

    assert done.state is JobState.SUCCEEDED and done.csr_pem is not None
    installed = await admin.get_slot_certificate(name, str(done.certificate_id))
    csr = x509.load_pem_x509_csr(done.csr_pem.encode())
    assert installed.certificate.public_key() == csr.public_key()


async def test_a_slot_name_without_a_label_is_refused_before_sending(
    admin: AsyncClient,
) -> None:
    with pytest.raises(InvalidName):
        await admin.remove_slot("server")
