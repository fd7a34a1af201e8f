"""Change events of slots: one row per change, in the change's own transaction.

Rows are numbered in commit order (on PostgreSQL a transaction-scoped advisory
lock taken before the insert makes ids and commits agree, so a reader that has
seen id N never later finds a smaller id); readers page through them
with :func:`events_after` (SSE's ``Last-Event-ID`` and webhook delivery build
on it, see ``certs/events_delivery.py``).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from certward.ca.context import CAContext
from certward.errors import InvalidInput
from certward.store.models import CertEventRow
from certward.store.notify import notify_change

__all__ = [
    "MAX_EVENTS_PAGE",
    "ChangeEvent",
    "EventKind",
    "events_after",
    "lock_events",
    "newest_file_change",
    "record_event",
]

MAX_EVENTS_PAGE = 1000
_EVENTS_LOCK = 0x63657274_65767473  # "certevts"


class EventKind(enum.StrEnum):
    INSTALLED = "installed"
    REPLACED = "replaced"
    DELETED = "deleted"
    EXPIRING = "expiring"
    CRL_UPDATED = "crl_updated"


@dataclass(frozen=True)
class ChangeEvent:
    """One change to a slot; ``id`` grows with every event."""

    id: int
    kind: EventKind
    slot: str
    certificate_id: str | None
    at: datetime
    details: dict[str, Any] = field(default_factory=dict)


def record_event(
    session: Session,
    *,
    kind: EventKind,
    slot: str,
    certificate_id: str | None,
    at: datetime,
    details: dict[str, Any] | None = None,
) -> int:
    """Add an event row to ``session``'s transaction; returns its id. No secrets in details.

    Other nodes are told at commit (a change notice): they re-render their own copy
    of the slot's files (see ``ServerRuntime``).
    """
    lock_events(session)
    row = CertEventRow(
        kind=kind.value,
        slot=slot,
        cert_id=certificate_id,
        at=at,
        details=json.dumps(details or {}, sort_keys=True, default=str),
    )
    session.add(row)
    session.flush()
    if kind is not EventKind.EXPIRING:
        notify_change(session, f"slot:{slot}")
    return row.id


def newest_file_change(ctx: CAContext) -> int | None:
    """The id of the newest event that changed a slot's files (None: no such event)."""
    with ctx.database.read() as session:
        newest: int | None = session.scalar(
            select(func.max(CertEventRow.id)).where(CertEventRow.kind != EventKind.EXPIRING.value)
        )
    return newest


def lock_events(session: Session) -> None:
    """Hold the event lock until ``session`` ends (PostgreSQL; SQLite writers are serial)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _EVENTS_LOCK})


def events_after(
    ctx: CAContext, last_id: int, *, limit: int = 100, slot: str | None = None
) -> list[ChangeEvent]:
    """Events with an id above ``last_id``, oldest first, at most ``limit`` (≤ 1000).

    ``slot`` keeps the events of one slot only.
    """
    if not 1 <= limit <= MAX_EVENTS_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_EVENTS_PAGE}")
    query = select(CertEventRow).where(CertEventRow.id > last_id)
    if slot is not None:
        query = query.where(CertEventRow.slot == slot)
    with ctx.database.read() as session:
        rows = session.scalars(query.order_by(CertEventRow.id).limit(limit)).all()
    return [
        ChangeEvent(
            id=row.id,
            kind=EventKind(row.kind),
            slot=row.slot,
            certificate_id=row.cert_id,
            at=row.at,
            details=json.loads(row.details),
        )
        for row in rows
    ]
