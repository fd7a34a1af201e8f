"""Change events over real mutual TLS: SSE (with Last-Event-ID), signed webhooks; CSR jobs.

One service for the module (``slot_service``): its webhook is a real local HTTP
server that refuses the very first delivery, so a retry is part of every run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from tests.certs.factory import TestCA
from tests.server.service import CERTWARD, assert_error, poll_until
from tests.server.slot_service import WEBHOOK_SECRET, SlotService, slot_service

LDAP = "/v1/slots/client/ldap"
TRUSTSTORE = "/v1/slots/authority/truststore"
REDFISH_LDAP = "/redfish/v1/AccountService/LDAP/Certificates"
REDFISH_REPLACE = "/redfish/v1/CertificateService/Actions/CertificateService.ReplaceCertificate"


@pytest.fixture(scope="module")
def slots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlotService]:
    with slot_service(tmp_path_factory.mktemp("events")) as running:
        yield running


@pytest.fixture(scope="module")
def api(slots: SlotService) -> Iterator[httpx.Client]:
    with slots.service.client() as client:
        yield client


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA("Events Test Root")


@dataclass
class EventStream:
    """``GET /v1/events`` read on a thread: the events (and comments) seen so far."""

    client: httpx.Client
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    status: int | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _opened: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> EventStream:
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self._opened.wait(30), "the event stream did not open"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=10)

    def _read(self) -> None:
        with self.client.stream(
            "GET", "/v1/events", headers=self.headers, params=self.params, timeout=60
        ) as response:
            self.status = response.status_code
            self._opened.set()
            data: list[str] = []
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith(":"):
                    self.comments.append(line)
                elif line.startswith("id: "):
                    self.ids.append(line[4:])
                elif line.startswith("data: "):
                    data.append(line[6:])
                elif line == "" and data:
                    self.events.append(json.loads("\n".join(data)))
                    data = []

    def kinds_for(self, slot: str) -> list[str]:
        return [event["kind"] for event in list(self.events) if event["slot"] == slot]


def _install_replace_delete_ldap(api: httpx.Client, ca: TestCA) -> list[str]:
    first = ca.issue("ldap-a.example.test", client=True)
    second = ca.issue("ldap-b.example.test", client=True)
    installed = api.post(
        REDFISH_LDAP,
        json={"CertificateString": first.bundle_pem.decode(), "CertificateType": "PEM"},
    )
    assert installed.status_code == 201, installed.text
    replaced = api.post(
        REDFISH_REPLACE,
        json={
            "CertificateString": second.bundle_pem.decode(),
            "CertificateUri": {"@odata.id": installed.headers["location"]},
        },
    )
    assert replaced.status_code == 200, replaced.text
    assert api.delete(replaced.json()["@odata.id"]).status_code == 204
    return [installed.json()["Id"], replaced.json()["Id"]]


# -- SSE --------------------------------------------------------------------------------------


def test_sse_shows_installed_replaced_deleted_and_resumes_after_last_event_id(
    slots: SlotService, api: httpx.Client, ca: TestCA
) -> None:
    with slots.service.client() as streaming, EventStream(streaming) as stream:
        assert stream.status == 200
        first_id, second_id = _install_replace_delete_ldap(api, ca)
        seen = poll_until(lambda: len(stream.kinds_for("client/ldap")) >= 3, within=30)
        assert seen, stream.events
    assert stream.kinds_for("client/ldap") == ["installed", "replaced", "deleted"]
    ldap = [event for event in stream.events if event["slot"] == "client/ldap"]
    assert ldap[0]["certificate_id"] == first_id
    assert ldap[1]["certificate_id"] == second_id
    assert ldap[1]["details"]["previous_id"] == first_id
    assert [int(i) for i in stream.ids] == [event["id"] for event in stream.events]

    # A client that saw only the first event reconnects and gets the rest, in order.
    resume = {"Last-Event-ID": str(ldap[0]["id"])}
    with slots.service.client() as streaming, EventStream(streaming, headers=resume) as again:
        assert poll_until(lambda: len(again.kinds_for("client/ldap")) >= 2, within=30)
    assert again.kinds_for("client/ldap")[:2] == ["replaced", "deleted"]
    assert again.events[0]["id"] == ldap[1]["id"]


def test_sse_sends_keep_alive_comments_while_nothing_happens(slots: SlotService) -> None:
    with slots.service.client() as streaming, EventStream(streaming) as stream:
        assert poll_until(lambda: ": keep-alive" in stream.comments, within=30)


def test_sse_shows_only_the_slots_a_principal_may_manage(
    slots: SlotService, api: httpx.Client, ca: TestCA, tmp_path: Path
) -> None:
    truststore_only = slots.service.create_principal(
        tmp_path, grants=[{"permission": "certs.manage", "resources": ["authority/truststore"]}]
    )
    with (
        slots.service.client(truststore_only) as streaming,
        EventStream(streaming, params={"after": "0"}) as stream,
    ):
        trusted = TestCA("Only visible CA")
        installed = api.post(
            f"{TRUSTSTORE}/certificates", json={"certificate_pem": trusted.cert_pem.decode()}
        )
        assert installed.status_code == 201, installed.text
        assert poll_until(
            lambda: "installed" in stream.kinds_for("authority/truststore"), within=30
        )
        assert api.delete(f"{TRUSTSTORE}/certificates/{installed.json()['id']}").status_code == 200
        _install_replace_delete_ldap(api, ca)
        assert poll_until(lambda: "deleted" in stream.kinds_for("authority/truststore"), within=30)
    assert {event["slot"] for event in stream.events} == {"authority/truststore"}


def test_sse_needs_a_certs_manage_grant_and_a_numeric_last_event_id(
    slots: SlotService, tmp_path: Path
) -> None:
    reader = slots.service.create_principal(tmp_path, grants=[{"permission": "ca.read"}])
    with slots.service.client(reader) as client:
        assert_error(client.get("/v1/events"), 403, "auth.forbidden")
    with slots.service.client() as admin:
        bad = admin.get("/v1/events", headers={"Last-Event-ID": "not-a-number"})
        assert_error(bad, 400, "input.invalid")


# -- webhooks ---------------------------------------------------------------------------------


def test_webhook_receives_signed_events_and_a_refused_delivery_is_retried(
    slots: SlotService, api: httpx.Client, ca: TestCA
) -> None:
    first_id, _second_id = _install_replace_delete_ldap(api, ca)

    def delivered() -> bool:
        return any(
            event["certificate_id"] == first_id and event["kind"] == "installed"
            for event in slots.webhook.events()
        )

    assert poll_until(delivered, within=60), slots.service.output()[-2000:]
    for delivery in [*slots.webhook.refused, *slots.webhook.deliveries]:
        expected = "sha256=" + hmac.new(WEBHOOK_SECRET, delivery.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(delivery.headers["X-Certward-Signature"], expected)
        assert delivery.headers["X-Certward-Event-Id"] == str(delivery.event["id"])
        assert delivery.headers["X-Certward-Event"] == delivery.event["kind"]
    refused_id = slots.webhook.refused[0].event["id"]
    assert refused_id in [event["id"] for event in slots.webhook.events()]
    ids = [event["id"] for event in slots.webhook.events()]
    assert ids == sorted(set(ids)), "each event once, in order"


def test_a_tampered_body_does_not_match_its_signature(
    slots: SlotService, api: httpx.Client, ca: TestCA
) -> None:
    # Changes of its own: under xdist this test may run before every other test of the module.
    _install_replace_delete_ldap(api, ca)
    assert poll_until(lambda: slots.webhook.deliveries, within=60)
    delivery = slots.webhook.deliveries[0]
    tampered = delivery.body.replace(b'"kind":"', b'"kind":"x')
    forged = "sha256=" + hmac.new(WEBHOOK_SECRET, tampered, hashlib.sha256).hexdigest()
    assert not hmac.compare_digest(delivery.headers["X-Certward-Signature"], forged)


def test_two_workers_stream_every_event_and_send_each_webhook_once(
    tmp_path: Path, ca: TestCA
) -> None:
    with slot_service(tmp_path, workers=2) as two:
        with two.service.client() as api, two.service.client() as a, two.service.client() as b:
            with EventStream(a) as first, EventStream(b) as second:
                for _ in range(3):
                    _install_replace_delete_ldap(api, ca)
                for stream in (first, second):
                    assert poll_until(lambda s=stream: len(s.events) >= 9, within=60)
            assert [e["id"] for e in first.events] == [e["id"] for e in second.events]
            assert poll_until(lambda: len(two.webhook.events()) >= 9, within=60)
        ids = [event["id"] for event in two.webhook.events()]
        assert ids == sorted(set(ids)) == [event["id"] for event in first.events]


# -- CSR jobs through the JSON API ------------------------------------------------------------


def _wait_for_job(api: httpx.Client, job_id: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = api.get(f"/v1/jobs/{job_id}").json()
        return job if job["state"] in ("succeeded", "failed") else None

    job = poll_until(done, within=120)
    assert job is not None, f"job {job_id} did not finish"
    return job


CSR_FIELDS = {
    "city": "Berlin",
    "common_name": "ldap-client.example.test",
    "country": "DE",
    "organization": "Example",
    "organizational_unit": "Directory",
    "state": "Berlin",
}


def test_csr_job_returns_at_once_and_yields_the_csr(api: httpx.Client) -> None:
    answer = api.post(
        f"{LDAP}/csr", json={**CSR_FIELDS, "key_pair_algorithm": "RSA", "key_bit_length": 3072}
    )

    assert answer.status_code == 202, answer.text
    assert answer.json()["state"] in ("queued", "running", "succeeded")
    job = _wait_for_job(api, answer.json()["id"])
    assert job["state"] == "succeeded", job
    csr = x509.load_pem_x509_csr(job["csr_pem"].encode())
    assert csr.is_signature_valid
    assert csr.public_key().key_size == 3072  # type: ignore[union-attr]
    assert csr.subject.rfc4514_string() == (
        "CN=ldap-client.example.test,OU=Directory,O=Example,L=Berlin,ST=Berlin,C=DE"
    )
    assert "challenge_password" not in json.dumps(job)


def test_csr_job_with_sign_with_installs_the_certificate_with_the_new_key(
    api: httpx.Client, slots: SlotService
) -> None:
    answer = api.post(
        f"{LDAP}/csr", json={**CSR_FIELDS, "sign_with": "issuing", "profile": "client"}
    )
    assert answer.status_code == 202, answer.text
    job = _wait_for_job(api, answer.json()["id"])
    assert job["state"] == "succeeded", job

    installed = api.get(f"{LDAP}/certificates").json()
    assert [item["id"] for item in installed] == [job["certificate_id"]]
    certificate = x509.load_pem_x509_certificate((slots.slot_dir("ldap") / "cert.pem").read_bytes())
    csr = x509.load_pem_x509_csr(job["csr_pem"].encode())
    assert certificate.public_key() == csr.public_key()
    assert api.delete(f"{LDAP}/certificates/{job['certificate_id']}").status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"city": None}, "city"),
        ({"country": "Germany"}, "country"),
        ({"key_pair_algorithm": "EC", "key_curve_id": "brainpoolP256r1"}, "key_curve_id"),
        ({"key_pair_algorithm": "RSA", "key_bit_length": 1024}, "key_bit_length"),
        ({"alternative_names": ["not a name!"]}, "alternative_names"),
    ],
)
def test_csr_job_refuses_bad_fields_naming_them(
    api: httpx.Client, change: dict[str, Any], field: str
) -> None:
    body = {**CSR_FIELDS, **change}
    body = {name: value for name, value in body.items() if value is not None}

    error = assert_error(api.post(f"{LDAP}/csr", json=body), 400, "csr.invalid")

    assert error["message"].startswith(field), error


def test_csr_job_for_an_unknown_slot_or_job_is_404(api: httpx.Client) -> None:
    assert_error(api.post("/v1/slots/server/nope/csr", json=CSR_FIELDS), 404, "slot.not_found")
    assert_error(api.get(f"/v1/jobs/{'0' * 32}"), 404, "job.not_found")


def test_cli_slot_csr_through_the_server(slots: SlotService, tmp_path: Path) -> None:
    import subprocess

    service = slots.service
    admin = service.admin
    out = tmp_path / "ldap.csr"
    result = subprocess.run(
        [
            str(CERTWARD),
            "--server",
            service.url,
            "--ca",
            str(service.ca_certificate),
            "--cert",
            str(admin.certificate),
            "--key",
            str(admin.key),
            "slot",
            "csr",
            "client/ldap",
            "--cn",
            "cli.example.test",
            "--city",
            "Paris",
            "--state",
            "IDF",
            "--country",
            "FR",
            "--org",
            "Example",
            "--ou",
            "Ops",
            "--san",
            "cli.example.test",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    csr = x509.load_pem_x509_csr(out.read_bytes())
    assert csr.is_signature_valid
    assert "CN=cli.example.test" in csr.subject.rfc4514_string()


def test_expiring_event_is_emitted_once_per_threshold(
    slots: SlotService, api: httpx.Client, ca: TestCA
) -> None:
    soon = ca.issue(
        "soon.example.test", client=True, not_after=_in_days(5), not_before=_in_days(-1)
    )
    installed = api.post(
        f"{LDAP}/certificates",
        json={"certificate_pem": soon.chain_pem.decode(), "key_pem": soon.key_pem.decode()},
    )
    assert installed.status_code == 201, installed.text
    cert_id = installed.json()["id"]
    try:
        with (
            slots.service.client() as streaming,
            EventStream(streaming, params={"after": "0"}) as stream,
        ):

            def expiring() -> list[dict[str, Any]]:
                return [
                    e
                    for e in stream.events
                    if e["kind"] == "expiring" and e["certificate_id"] == cert_id
                ]

            found = poll_until(expiring, within=30)
        # Five days left: the 7-day threshold, not the 30-day one as well (the unit tests
        # show that later scans add nothing).
        assert found is not None
        assert [event["details"]["threshold_days"] for event in found] == [7]
    finally:
        api.delete(f"{LDAP}/certificates/{cert_id}")


def _in_days(days: int) -> Any:
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
