"""Running the service: Prometheus metrics, the audit log, and a graceful stop on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.server.service import Service, run_certward


def families(text: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_metrics_are_prometheus_text_with_requests_crl_age_and_expiring(
    service: Service,
) -> None:
    with service.client() as api:
        api.get("/v1/cas")
        response = api.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = families(response.text)
    # prometheus_client strips the _total suffix from counter family names.
    requests = found["certward_http_requests"]
    assert any(
        sample.name == "certward_http_requests_total"
        and sample.labels == {"method": "GET", "route": "/v1/cas", "status": "200"}
        and sample.value >= 1
        for sample in requests.samples
    )
    crl_ages = {s.labels["ca"]: s.value for s in found["certward_crl_age_seconds"].samples}
    assert {"root", "issuing"} <= set(crl_ages)
    assert all(age >= 0 for age in crl_ages.values())
    windows = {s.labels["within"] for s in found["certward_certificates_expiring"].samples}
    assert windows == {"7d", "30d"}
    assert "certward_http_request_duration_seconds" in found


def test_metrics_need_the_metrics_read_grant(service: Service, tmp_path: Path) -> None:
    scraper = service.create_principal(tmp_path, grants=[{"permission": "metrics.read"}])

    with service.client(scraper) as client:
        metrics = client.get("/metrics")
        certificates = client.get("/v1/certificates")

    assert metrics.status_code == 200
    assert "certward_crl_age_seconds" in metrics.text
    assert certificates.status_code == 403


class AuditTrail:
    """Mutating calls made with known request ids, and the audit events they left."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.prefix = f"audit-{uuid.uuid4().hex[:8]}"
        self.name = f"audited-{uuid.uuid4().hex[:6]}"
        self.serial = ""  # of the certificate issued, then revoked

    def call(self, step: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
        with self.service.client() as api:
            return api.post(path, json=body, headers={"X-Request-ID": f"{self.prefix}-{step}"})

    def events(self, **filters: str) -> list[dict[str, Any]]:
        with self.service.client() as api:
            response = api.get("/v1/audit", params={"limit": 1000, **filters})
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return [e for e in items if (e["request_id"] or "").startswith(self.prefix)]


@pytest.fixture(scope="module")
def trail(service: Service) -> AuditTrail:
    trail = AuditTrail(service)
    issued = trail.call(
        "issue",
        "/v1/certificates",
        {"ca": "issuing", "profile": "client", "common_name": trail.name},
    )
    assert issued.status_code == 201
    trail.serial = issued.json()["serial"]
    failed = trail.call(
        "fail", "/v1/certificates", {"ca": "nope", "profile": "client", "common_name": trail.name}
    )
    assert failed.status_code == 404
    revoked = trail.call("revoke", f"/v1/certificates/{trail.serial}/revoke", {})
    assert revoked.status_code == 200
    created = trail.call(
        "principal", "/v1/principals", {"name": trail.name, "grants": [{"permission": "ca.read"}]}
    )
    assert created.status_code == 201
    assert trail.call("disable", f"/v1/principals/{trail.name}/disable", None).status_code == 200
    return trail


def test_audit_log_records_every_mutating_call_with_its_outcome(trail: AuditTrail) -> None:
    events = {e["request_id"].rsplit("-", 1)[1]: e for e in trail.events()}

    assert set(events) == {"issue", "fail", "revoke", "principal", "disable"}
    summary = {
        step: (e["principal"], e["action"], e["target"], e["result"]) for step, e in events.items()
    }
    serial = trail.serial
    assert summary == {
        "issue": ("admin", "certificate.issue", trail.name, "ok"),
        "fail": ("admin", "certificate.issue", trail.name, "ca.not_found"),
        "revoke": ("admin", "certificate.revoke", serial, "ok"),
        "principal": ("admin", "principal.create", trail.name, "ok"),
        "disable": ("admin", "principal.disable", trail.name, "ok"),
    }
    assert all(e["time"] for e in events.values())


def test_audit_log_keeps_no_secrets(trail: AuditTrail) -> None:
    text = json.dumps(trail.events())

    assert "PRIVATE KEY" not in text
    assert "pkcs12" not in text.lower()


def test_audit_log_filters_by_action_and_target(trail: AuditTrail) -> None:
    serial = trail.serial

    revocations = trail.events(action="certificate.revoke", target=serial)
    by_principal = trail.events(principal="admin", action="principal.create")
    nobody = trail.events(principal="nobody")

    assert [e["request_id"] for e in revocations] == [f"{trail.prefix}-revoke"]
    assert [e["target"] for e in by_principal] == [trail.name]
    assert nobody == []


def test_audit_log_pages_with_a_cursor_newest_first(service: Service, trail: AuditTrail) -> None:
    seen: list[int] = []
    cursor = None
    with service.client() as api:
        while True:
            params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = api.get("/v1/audit", params=params).json()
            seen += [event["id"] for event in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        everything = api.get("/v1/audit", params={"limit": 1000}).json()["items"]

    assert seen == [event["id"] for event in everything][: len(seen)]
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen)) >= 5


def test_sigterm_lets_the_request_in_flight_finish_and_exits_0(own_service: Service) -> None:
    service = own_service
    name = f"inflight-{uuid.uuid4().hex[:6]}"
    body = json.dumps(
        {"ca": "issuing", "profile": "client", "common_name": name, "key_type": "rsa-4096"}
    ).encode()
    head = (
        f"POST /v1/certificates HTTP/1.1\r\nHost: {service.host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    context = service.ssl_context(service.admin)

    with (
        socket.create_connection((service.host, service.port), timeout=60) as raw,
        context.wrap_socket(raw, server_hostname=service.host) as tls,
    ):
        # The request is in flight: headers and half the body are with the server ...
        tls.sendall(head + body[:10])
        time.sleep(0.3)  # (lets the server parse them: a sync point, not an assertion)
        service.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        # ... when SIGTERM arrives; the rest follows, and an RSA-4096 key is made.
        tls.sendall(body[10:])
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    exit_code = service.process.wait(timeout=30)

    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 201 Created", answer[:500]
    serial = json.loads(rest.partition(b"\r\n\r\n")[2])["serial"]
    assert exit_code == 0, service.output()
    stored = json.loads(run_certward("cert", "list", "--json", data_dir=service.data_dir).stdout)
    assert serial in json.dumps(stored)
