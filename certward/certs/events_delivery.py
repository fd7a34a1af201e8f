"""Change events delivered: the wire form (SSE and webhooks), webhooks, the expiry scan.

Events are rows (``certs/events.py``), so every worker and node sees the same
stream. This module adds:

- :func:`event_payload` / :func:`sse_message`: the JSON body of an event and its
  Server-Sent Events frame (``id:`` = the event id, so ``Last-Event-ID`` resumes);
- :class:`EventDelivery`: one background thread per process that keeps the
  webhooks fed and runs the expiry scan. A webhook is served by one process at
  a time: the one holding its lease in ``event_cursors`` (renewed every poll;
  another process takes over when it lapses). That process reads events into
  a bounded queue and a sender thread POSTs them in order, each signed with
  HMAC-SHA256 (``X-Certward-Signature: sha256=<hex>`` over the exact body),
  retried with exponential backoff; the cursor moves only after an event was
  delivered or given up, so delivery is at least once (receivers de-duplicate
  by the event id in the body and in ``X-Certward-Event-Id``).
- :func:`scan_expiring`: an ``expiring`` event when a slot certificate comes
  within a configured threshold of its end, once per certificate and threshold
  (a unique row per pair decides, whichever process scans first);
- :func:`record_ca_crl_events`: a ``crl_updated`` event (slot ``ca/<name>``) for
  each CRL one of certward's own CAs publishes (slot CRLs record theirs when
  they are installed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import queue
import ssl
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import structlog
from sqlalchemy import func, or_, select, update

from certward.ca.context import CAContext
from certward.certs.events import ChangeEvent, EventKind, events_after, record_event
from certward.config import EventsSettings, WebhookSettings
from certward.errors import CertwardError, ConfigError, Conflict, FilePermissionError
from certward.store.models import (
    CertEventRow,
    CertExpiryNoticeRow,
    CertificateAuthorityRow,
    CRLRow,
    EventCursorRow,
    SlotCertificateRow,
)

__all__ = [
    "SIGNATURE_HEADER",
    "EventDelivery",
    "Webhook",
    "event_payload",
    "latest_event_id",
    "record_ca_crl_events",
    "scan_expiring",
    "sign_body",
    "sse_message",
]

_log = structlog.get_logger()

SIGNATURE_HEADER = "X-Certward-Signature"
_MAX_BACKOFF = 60.0
_FETCH_LIMIT = 100
_LEASE_POLLS = 10  # a lease lasts this many polls (at least _MIN_LEASE seconds)
_MIN_LEASE = 5.0
_MAX_SECRET_BYTES = 4096


def event_payload(event: ChangeEvent) -> dict[str, Any]:
    """The JSON object of one event (SSE data and webhook body)."""
    return {
        "id": event.id,
        "kind": event.kind.value,
        "slot": event.slot,
        "certificate_id": event.certificate_id,
        "at": event.at.isoformat(),
        "details": event.details,
    }


def _body(event: ChangeEvent) -> bytes:
    return json.dumps(event_payload(event), sort_keys=True, separators=(",", ":")).encode()


def sse_message(event: ChangeEvent) -> bytes:
    """One Server-Sent Events frame: ``id``, ``event`` (the kind) and ``data`` (JSON)."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.id, event.kind.value.encode(), _body(event))


def sign_body(secret: bytes, body: bytes) -> str:
    """The ``X-Certward-Signature`` value of ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def latest_event_id(ctx: CAContext) -> int:
    """The id of the newest event (0 when there is none)."""
    with ctx.database.read() as session:
        return session.scalar(select(func.max(CertEventRow.id))) or 0


# -- the expiry scan -------------------------------------------------------------------------


def scan_expiring(ctx: CAContext, thresholds: Sequence[int]) -> list[int]:
    """Emit ``expiring`` events for slot certificates within a threshold; their ids.

    A certificate that crossed several thresholds since the last scan gets one
    event, for the smallest; the larger ones are marked as done with it.
    """
    if not thresholds:
        return []
    now = ctx.clock()
    horizon = now + timedelta(days=max(thresholds))
    with ctx.database.read() as session:
        candidates = session.execute(
            select(
                SlotCertificateRow.slot, SlotCertificateRow.cert_id, SlotCertificateRow.not_after
            ).where(SlotCertificateRow.not_after <= horizon)
        ).all()
        noticed = {
            (row.slot, row.cert_id, row.threshold_days)
            for row in session.execute(
                select(
                    CertExpiryNoticeRow.slot,
                    CertExpiryNoticeRow.cert_id,
                    CertExpiryNoticeRow.threshold_days,
                )
            )
        }
    emitted = []
    for slot, cert_id, not_after in candidates:
        crossed = sorted(t for t in set(thresholds) if not_after - now <= timedelta(days=t))
        if not crossed or (slot, cert_id, crossed[0]) in noticed:
            continue
        event_id = _notice(
            ctx,
            slot=slot,
            cert_id=cert_id,
            not_after=not_after,
            crossed=crossed,
            noticed=noticed,
            now=now,
        )
        if event_id is not None:
            emitted.append(event_id)
    return emitted


def _notice(
    ctx: CAContext,
    *,
    slot: str,
    cert_id: str,
    not_after: datetime,
    crossed: list[int],
    noticed: set[tuple[str, str, int]],
    now: datetime,
) -> int | None:
    try:
        with ctx.database.transaction() as session:
            seconds_left = (not_after - now).total_seconds()
            event_id = record_event(
                session,
                kind=EventKind.EXPIRING,
                slot=slot,
                certificate_id=cert_id,
                at=now,
                details={
                    "threshold_days": crossed[0],
                    "not_after": not_after.isoformat(),
                    "days_left": int(seconds_left // 86400),
                },
            )
            for threshold in crossed:
                if (slot, cert_id, threshold) not in noticed:
                    session.add(
                        CertExpiryNoticeRow(
                            slot=slot,
                            cert_id=cert_id,
                            threshold_days=threshold,
                            event_id=event_id,
                            noticed_at=now,
                        )
                    )
    except Conflict:
        return None  # another process noticed it first; its event stands
    return event_id


# -- CA CRL publications ---------------------------------------------------------------------

_CA_CRLS_CURSOR = "ca-crls"


def record_ca_crl_events(ctx: CAContext) -> list[int]:
    """A ``crl_updated`` event (slot ``ca/<name>``) for each CRL a certward CA published.

    A cursor row remembers the last CRL seen; it starts at the newest CRL when
    first made. The cursor moves in the events' transaction, guarded by its old
    value, so two processes never record the same CRL twice.
    """
    with ctx.database.read() as session:
        cursor = session.get(EventCursorRow, _CA_CRLS_CURSOR)
        newest = session.scalar(select(func.max(CRLRow.id))) or 0
    if cursor is None:
        try:
            with ctx.database.transaction() as session:
                session.add(
                    EventCursorRow(
                        name=_CA_CRLS_CURSOR, last_event_id=newest, updated_at=ctx.clock()
                    )
                )
        except Conflict:
            pass  # another process made it
        return []
    seen = cursor.last_event_id
    if newest <= seen:
        return []
    recorded: list[int] = []
    try:
        with ctx.database.transaction() as session:
            rows = session.execute(
                select(CRLRow.id, CRLRow.number, CRLRow.this_update, CertificateAuthorityRow.name)
                .join(CertificateAuthorityRow, CertificateAuthorityRow.id == CRLRow.ca_id)
                .where(CRLRow.id > seen, CRLRow.id <= newest)
                .order_by(CRLRow.id)
            ).all()
            for row in rows:
                recorded.append(
                    record_event(
                        session,
                        kind=EventKind.CRL_UPDATED,
                        slot=f"ca/{row.name}",
                        certificate_id=None,
                        at=row.this_update,
                        details={"source": "ca", "ca": row.name, "crl_number": str(row.number)},
                    )
                )
            moved = session.execute(
                update(EventCursorRow)
                .where(EventCursorRow.name == _CA_CRLS_CURSOR, EventCursorRow.last_event_id == seen)
                .values(last_event_id=newest, updated_at=ctx.clock())
            )
            if getattr(moved, "rowcount", 0) != 1:
                raise Conflict("another process recorded these CRLs")  # rolls the events back
    except Conflict:
        return []
    return recorded


# -- webhooks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Webhook:
    """A configured webhook with its secret loaded."""

    url: str
    secret: bytes = field(repr=False)
    kinds: frozenset[str] | None
    timeout_seconds: float
    max_attempts: int
    ca_file: str | None = None

    @property
    def cursor_name(self) -> str:
        """Its row in ``event_cursors`` (URLs can be long; their digest is not)."""
        return "webhook:" + hashlib.sha256(self.url.encode()).hexdigest()[:40]

    def wants(self, event: ChangeEvent) -> bool:
        return self.kinds is None or event.kind.value in self.kinds

    @classmethod
    def from_settings(cls, settings: WebhookSettings) -> Webhook:
        """Load the secret file: ours, not readable by others, not empty."""
        path = Path(settings.secret_file)
        try:
            info = path.stat()
            secret = path.read_bytes()[: _MAX_SECRET_BYTES + 1]
        except OSError as exc:
            raise ConfigError(
                f"events.webhooks: cannot read secret_file {path}: {exc.strerror}"
            ) from None
        if info.st_mode & 0o077:
            raise FilePermissionError(
                f"webhook secret file {path} has mode {info.st_mode & 0o777:04o}: "
                f"others can read it; run: chmod 600 {path}"
            )
        if info.st_uid != os.getuid():
            raise FilePermissionError(f"webhook secret file {path} is not owned by this user")
        secret = secret.strip()
        if not secret or len(secret) > _MAX_SECRET_BYTES:
            raise ConfigError(f"events.webhooks: secret_file {path} must hold 1-4096 bytes")
        return cls(
            url=settings.url,
            secret=secret,
            kinds=frozenset(settings.kinds) if settings.kinds is not None else None,
            timeout_seconds=settings.timeout_seconds,
            max_attempts=settings.max_attempts,
            ca_file=settings.ca_file,
        )


class _WebhookWorker:
    """The queue and sender thread of one webhook in this process."""

    def __init__(self, delivery: EventDelivery, webhook: Webhook, queue_size: int) -> None:
        self.delivery = delivery
        self.webhook = webhook
        self.queue: queue.Queue[ChangeEvent] = queue.Queue(maxsize=queue_size)
        self.fetched: int | None = None  # the last event id queued while holding the lease
        self.holds_lease = False
        verify: ssl.SSLContext | bool = True
        if webhook.ca_file:
            verify = ssl.create_default_context(cafile=webhook.ca_file)
        self.client = httpx.Client(timeout=webhook.timeout_seconds, verify=verify)
        self.thread = threading.Thread(target=self._send_loop, name="certward-webhook", daemon=True)

    def _send_loop(self) -> None:
        stop = self.delivery.stopping
        while not stop.is_set():
            try:
                event = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                delivered = self._deliver(event) if self.webhook.wants(event) else True
            except Exception as exc:  # a sender thread must outlive any one event
                _log.error("webhook.failed", url=self.webhook.url, error=type(exc).__name__)
                delivered = False
            if delivered or not stop.is_set():  # given up: move on; interrupted: the next holder
                self.delivery.advance(self, event.id)
        self.client.close()

    def _deliver(self, event: ChangeEvent) -> bool:
        body = _body(event)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "certward-webhook",
            "X-Certward-Event": event.kind.value,
            "X-Certward-Event-Id": str(event.id),
            SIGNATURE_HEADER: sign_body(self.webhook.secret, body),
        }
        delay = self.delivery.settings.retry_backoff_seconds
        for attempt in range(1, self.webhook.max_attempts + 1):
            outcome = self._post(body, headers)
            if outcome is None:
                _log.info("webhook.delivered", url=self.webhook.url, event_id=event.id)
                return True
            _log.warning(
                "webhook.attempt_failed",
                url=self.webhook.url,
                event_id=event.id,
                attempt=attempt,
                reason=outcome,
            )
            if attempt == self.webhook.max_attempts:
                break
            if self.delivery.stopping.wait(delay):
                return False  # stopping: the next lease holder sends it again
            delay = min(delay * 2, _MAX_BACKOFF)
        _log.error("webhook.given_up", url=self.webhook.url, event_id=event.id)
        return False

    def _post(self, body: bytes, headers: dict[str, str]) -> str | None:
        """None when the receiver took it (2xx); otherwise why not."""
        try:
            response = self.client.post(self.webhook.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return type(exc).__name__
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"


class EventDelivery:
    """The background half of change events in one process (see the module docstring)."""

    def __init__(self, ctx: CAContext, settings: EventsSettings, *, owner: str) -> None:
        self.ctx = ctx
        self.settings = settings
        self.owner = owner[:128]
        self.stopping = threading.Event()
        self.workers = [
            _WebhookWorker(self, Webhook.from_settings(hook), settings.queue_size)
            for hook in settings.webhooks
        ]
        self.lease = timedelta(seconds=max(_MIN_LEASE, settings.poll_seconds * _LEASE_POLLS))
        self._next_scan = 0.0
        self._thread = threading.Thread(target=self._run, name="certward-events", daemon=True)

    @classmethod
    def start(
        cls, ctx: CAContext, *, owner: str, settings: EventsSettings | None = None
    ) -> EventDelivery:
        """Load the webhooks (ConfigError/FilePermissionError if one is unusable) and start.

        ``owner`` names this process in webhook leases (unique per process);
        ``settings`` default to the context's ``[events]``.
        """
        delivery = cls(ctx, settings or ctx.settings.events, owner=owner)
        for worker in delivery.workers:
            worker.thread.start()
        delivery._thread.start()
        return delivery

    def stop(self) -> None:
        """Stop polling and sending (an event being sent is sent again by the next holder)."""
        self.stopping.set()
        self._thread.join(timeout=5)
        for worker in self.workers:
            worker.thread.join(timeout=5)
        self._release()

    # -- the poller -----------------------------------------------------------------------

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._scan_if_due()
                record_ca_crl_events(self.ctx)
                for worker in self.workers:
                    self._feed(worker)
            except CertwardError as exc:  # the database is away: try again next poll
                _log.warning("events.poll_failed", error=exc.code)
            self.stopping.wait(self.settings.poll_seconds)

    def _scan_if_due(self) -> None:
        now = self.ctx.clock().timestamp()
        if now < self._next_scan:
            return
        self._next_scan = now + self.settings.expiry_scan_seconds
        emitted = scan_expiring(self.ctx, self.settings.expiring_days)
        if emitted:
            _log.info("events.expiring", events=emitted)

    def _feed(self, worker: _WebhookWorker) -> None:
        cursor = self._claim(worker.webhook)
        if cursor is None:
            if worker.holds_lease:  # lost it: whatever is queued is the new holder's now
                worker.holds_lease = False
                worker.fetched = None
                _drain(worker.queue)
            return
        if not worker.holds_lease or worker.fetched is None:
            worker.holds_lease = True
            worker.fetched = cursor
        room = worker.queue.maxsize - worker.queue.qsize()
        if room <= 0:
            return
        for event in events_after(self.ctx, worker.fetched, limit=min(room, _FETCH_LIMIT)):
            worker.queue.put_nowait(event)
            worker.fetched = event.id

    def _claim(self, webhook: Webhook) -> int | None:
        """Take or renew the lease of ``webhook``; its cursor if held, None if another has it."""
        name = webhook.cursor_name
        now = self.ctx.clock()
        with self.ctx.database.read() as session:
            exists = session.get(EventCursorRow, name) is not None
        if not exists:
            # A new webhook starts with the events after now, not with the whole history.
            try:
                with self.ctx.database.transaction() as session:
                    session.add(
                        EventCursorRow(
                            name=name,
                            last_event_id=latest_event_id(self.ctx),
                            owner=None,
                            lease_until=None,
                            updated_at=now,
                        )
                    )
            except Conflict:
                pass  # another process made it
        with self.ctx.database.transaction() as session:
            claimed = session.execute(
                update(EventCursorRow)
                .where(
                    EventCursorRow.name == name,
                    or_(
                        EventCursorRow.owner.is_(None),
                        EventCursorRow.owner == self.owner,
                        EventCursorRow.lease_until < now,
                    ),
                )
                .values(owner=self.owner, lease_until=now + self.lease)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                return None
            row = session.get(EventCursorRow, name)
            assert row is not None
            return row.last_event_id

    def advance(self, worker: _WebhookWorker, event_id: int) -> None:
        """Record that ``worker`` is done with every event up to ``event_id``."""
        try:
            with self.ctx.database.transaction() as session:
                session.execute(
                    update(EventCursorRow)
                    .where(
                        EventCursorRow.name == worker.webhook.cursor_name,
                        EventCursorRow.owner == self.owner,
                        EventCursorRow.last_event_id < event_id,
                    )
                    .values(last_event_id=event_id, updated_at=self.ctx.clock())
                )
        except CertwardError as exc:
            _log.warning("webhook.cursor_not_saved", url=worker.webhook.url, error=exc.code)

    def _release(self) -> None:
        for worker in self.workers:
            try:
                with self.ctx.database.transaction() as session:
                    session.execute(
                        update(EventCursorRow)
                        .where(
                            EventCursorRow.name == worker.webhook.cursor_name,
                            EventCursorRow.owner == self.owner,
                        )
                        .values(owner=None, lease_until=None)
                    )
            except CertwardError:
                pass  # the lease lapses by itself


def _drain(pending: queue.Queue[ChangeEvent]) -> None:
    while True:
        try:
            pending.get_nowait()
        except queue.Empty:
            return
