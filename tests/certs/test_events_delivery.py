"""Change event delivery (SQLite and PostgreSQL): the expiry scan, signed webhooks, leases."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from certward.ca.context import CAContext
from certward.ca.crl import publish_crl
from certward.certs.events import ChangeEvent, EventKind, events_after
from certward.certs.events_delivery import (
    EventDelivery,
    Webhook,
    record_ca_crl_events,
    scan_expiring,
    sign_body,
    sse_message,
)
from certward.certs.manager import delete_certificate, install_certificate
from certward.config import EventsSettings, WebhookSettings
from certward.errors import ConfigError, FilePermissionError
from tests.certs.conftest import MakeSlot
from tests.certs.factory import TestCA
from tests.server.service import poll_until
from tests.support.pki import PKI

SECRET = b"a webhook secret of some length"


@dataclass
class Receiver:
    """A real HTTP server: answers 500 to the first ``failures`` requests, then 204."""

    failures: int = 0
    bodies: list[bytes] = field(default_factory=list)
    signatures: list[str] = field(default_factory=list)
    attempts: int = 0
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(body) for body in self.bodies]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with state.lock:
                state.attempts += 1
                refuse = state.attempts <= state.failures
                if not refuse:
                    state.bodies.append(body)
                    state.signatures.append(self.headers["X-Certward-Signature"])
            self.send_response(500 if refuse else 204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    server.shutdown()


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "hook.secret"
    path.write_bytes(SECRET + b"\n")
    path.chmod(0o600)
    return path


def _settings(receiver: Receiver, secret_file: Path, **options: Any) -> EventsSettings:
    hook = WebhookSettings(url=receiver.url, secret_file=str(secret_file), **options)
    return EventsSettings(
        webhooks=[hook], poll_seconds=0.05, retry_backoff_seconds=0.05, expiring_days=[]
    )


def _install(ctx: CAContext, ca: TestCA, name: str, *, days: int = 365) -> str:
    """A client certificate for ``name`` into client/ldap (which holds one)."""
    now = datetime.now(UTC)
    leaf = ca.issue(name, client=True, not_after=now + timedelta(days=days))
    return install_certificate(ctx, "client/ldap", leaf.bundle_pem, actor="t").id


def _trust(ctx: CAContext, name: str) -> str:
    """A new CA certificate into authority/peers (which holds several)."""
    return install_certificate(ctx, "authority/peers", TestCA(name).cert_pem, actor="t").id


# -- the expiry scan --------------------------------------------------------------------------


def test_expiring_is_emitted_once_per_certificate_and_threshold(
    ca_context: CAContext, make_slot: MakeSlot, ca: TestCA
) -> None:
    make_slot("client/ldap")
    cert_id = _install(ca_context, ca, "soon.example.test", days=5)
    make_slot("client/far")  # a certificate far from its end adds nothing
    leaf = ca.issue("far.example.test", client=True)
    install_certificate(ca_context, "client/far", leaf.bundle_pem, actor="t")

    first = scan_expiring(ca_context, [30, 7, 1])
    again = scan_expiring(ca_context, [30, 7, 1])

    assert len(first) == 1 and again == []
    [event] = [e for e in events_after(ca_context, 0, limit=100) if e.kind is EventKind.EXPIRING]
    assert (event.slot, event.certificate_id) == ("client/ldap", cert_id)
    assert event.details["threshold_days"] == 7
    assert event.details["days_left"] in (4, 5)

    # Four and a half days later the 1-day threshold is crossed: one more event, once.
    real_clock = ca_context.clock
    ca_context.clock = lambda: real_clock() + timedelta(days=4, hours=12)
    try:
        later = scan_expiring(ca_context, [30, 7, 1])
        assert scan_expiring(ca_context, [30, 7, 1]) == []
    finally:
        ca_context.clock = real_clock
    assert len(later) == 1
    [last] = events_after(ca_context, first[0], limit=10)
    assert last.details["threshold_days"] == 1


def test_no_thresholds_means_no_scan(ca_context: CAContext) -> None:
    assert scan_expiring(ca_context, []) == []


# -- CA CRL publications ---------------------------------------------------------------------


def test_a_published_ca_crl_becomes_one_crl_updated_event(ca_context: CAContext) -> None:
    pki = PKI.create(ca_context)
    assert record_ca_crl_events(ca_context) == []  # starts at the newest CRL

    published = publish_crl(ca_context, pki.issuing)
    recorded = record_ca_crl_events(ca_context)

    assert len(recorded) == 1
    assert record_ca_crl_events(ca_context) == []
    [event] = events_after(ca_context, recorded[0] - 1, limit=10)
    assert event.kind is EventKind.CRL_UPDATED
    assert event.slot == f"ca/{pki.issuing}"
    assert event.details == {
        "source": "ca",
        "ca": pki.issuing,
        "crl_number": str(published.number),
    }


# -- webhooks ---------------------------------------------------------------------------------


def test_webhook_gets_each_event_once_signed_in_order_after_retries(
    ca_context: CAContext, make_slot: MakeSlot, ca: TestCA, receiver: Receiver, secret_file: Path
) -> None:
    make_slot("authority/peers")
    receiver.failures = 2  # the first event is refused twice, then taken
    delivery = EventDelivery.start(
        ca_context, owner="node-a", settings=_settings(receiver, secret_file)
    )
    try:
        assert poll_until(lambda: all(w.holds_lease for w in delivery.workers), within=30)
        first = _trust(ca_context, "one")
        second = _trust(ca_context, "two")
        assert poll_until(lambda: len(receiver.events()) >= 2, within=30)
    finally:
        delivery.stop()

    events = receiver.events()
    assert [(e["kind"], e["certificate_id"]) for e in events] == [
        ("installed", first),
        ("installed", second),
    ]
    assert receiver.attempts == 4
    for body, signature in zip(receiver.bodies, receiver.signatures, strict=True):
        expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(signature, expected)


def test_webhook_kinds_filter_what_is_sent(
    ca_context: CAContext, make_slot: MakeSlot, ca: TestCA, receiver: Receiver, secret_file: Path
) -> None:
    make_slot("client/ldap")
    settings = _settings(receiver, secret_file, kinds=["deleted"])
    delivery = EventDelivery.start(ca_context, owner="node-a", settings=settings)
    try:
        assert poll_until(lambda: all(w.holds_lease for w in delivery.workers), within=30)
        cert_id = _install(ca_context, ca, "filtered.example.test")
        delete_certificate(ca_context, "client/ldap", cert_id, actor="t")
        assert poll_until(receiver.events, within=30)
    finally:
        delivery.stop()
    assert [e["kind"] for e in receiver.events()] == ["deleted"]


def test_two_processes_share_a_webhook_without_sending_an_event_twice(
    ca_context: CAContext, make_slot: MakeSlot, ca: TestCA, receiver: Receiver, secret_file: Path
) -> None:
    make_slot("authority/peers")
    settings = _settings(receiver, secret_file)
    nodes = [EventDelivery.start(ca_context, owner=f"node-{n}", settings=settings) for n in "ab"]
    try:
        assert poll_until(
            lambda: any(w.holds_lease for node in nodes for w in node.workers), within=30
        )
        installed = [_trust(ca_context, f"n{i}") for i in range(4)]
        # The holder stops; the other takes over once the lease lapses (or is released).
        holder = next(node for node in nodes if node.workers[0].holds_lease)
        holder.stop()
        installed += [_trust(ca_context, f"m{i}") for i in range(3)]
        assert poll_until(lambda: len(receiver.events()) >= len(installed), within=60)
    finally:
        for node in nodes:
            node.stop()
    ids = [e["certificate_id"] for e in receiver.events()]
    assert ids == installed


def test_a_new_webhook_starts_with_the_events_after_now(
    ca_context: CAContext, make_slot: MakeSlot, ca: TestCA, receiver: Receiver, secret_file: Path
) -> None:
    make_slot("authority/peers")
    _trust(ca_context, "before")
    delivery = EventDelivery.start(
        ca_context, owner="node-a", settings=_settings(receiver, secret_file)
    )
    try:
        assert poll_until(lambda: all(w.holds_lease for w in delivery.workers), within=30)
        after = _trust(ca_context, "after")
        assert poll_until(receiver.events, within=30)
    finally:
        delivery.stop()
    assert [e["certificate_id"] for e in receiver.events()] == [after]


def test_webhook_secret_file_must_be_private_and_present(tmp_path: Path) -> None:
    loose = tmp_path / "loose.secret"
    loose.write_bytes(SECRET)
    loose.chmod(0o644)
    empty = tmp_path / "empty.secret"
    empty.write_bytes(b"\n")
    empty.chmod(0o600)

    with pytest.raises(FilePermissionError, match="chmod 600"):
        Webhook.from_settings(WebhookSettings(url="http://x/", secret_file=str(loose)))
    with pytest.raises(ConfigError, match="1-4096 bytes"):
        Webhook.from_settings(WebhookSettings(url="http://x/", secret_file=str(empty)))
    with pytest.raises(ConfigError, match="cannot read"):
        Webhook.from_settings(
            WebhookSettings(url="http://x/", secret_file=str(tmp_path / "missing"))
        )


# -- wire forms -------------------------------------------------------------------------------


def test_sse_frame_and_signature() -> None:
    event = ChangeEvent(
        id=42,
        kind=EventKind.REPLACED,
        slot="server/https",
        certificate_id="abcdef0123456789",
        at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        details={"actor": "admin"},
    )

    frame = sse_message(event)

    lines = frame.decode().split("\n")
    assert lines[:2] == ["id: 42", "event: replaced"]
    assert lines[-2:] == ["", ""]
    data = json.loads(lines[2].removeprefix("data: "))
    assert data == {
        "id": 42,
        "kind": "replaced",
        "slot": "server/https",
        "certificate_id": "abcdef0123456789",
        "at": "2026-01-02T03:04:05+00:00",
        "details": {"actor": "admin"},
    }
    body = lines[2].removeprefix("data: ").encode()
    assert sign_body(b"k", body) == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
