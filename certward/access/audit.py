"""The audit log: every mutating call, who made it, on what, and how it ended.

Each event is a row in ``audit_events`` and a structured log line. Details never
hold secrets: callers pass names, serials and codes only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select

from certward.ca.context import CAContext
from certward.errors import InvalidInput
from certward.store.models import AuditRow

__all__ = ["MAX_AUDIT_PAGE", "AuditEvent", "AuditPage", "query_events", "record_event"]

_log = structlog.get_logger()
MAX_AUDIT_PAGE = 1000


@dataclass(frozen=True)
class AuditEvent:
    """One audited call."""

    id: int
    time: datetime
    principal: str | None
    action: str
    target: str | None
    result: str
    request_id: str | None
    details: dict[str, Any]


@dataclass(frozen=True)
class AuditPage:
    """A page of audit events, newest first, and the cursor of the next page."""

    items: tuple[AuditEvent, ...]
    next_cursor: str | None


def record_event(
    ctx: CAContext,
    *,
    principal: str | None,
    action: str,
    target: str | None,
    result: str,
    request_id: str | None,
    details: dict[str, Any] | None = None,
) -> None:
    """Store one audit event and log it."""
    payload = details or {}
    with ctx.database.transaction() as session:
        session.add(
            AuditRow(
                time=ctx.clock(),
                principal=principal,
                action=action,
                target=target,
                result=result,
                request_id=request_id,
                details=json.dumps(payload, sort_keys=True, default=str),
            )
        )
    _log.info(
        "audit",
        principal=principal,
        action=action,
        target=target,
        result=result,
        request_id=request_id,
        **{f"detail_{key}": value for key, value in payload.items()},
    )


def query_events(
    ctx: CAContext,
    *,
    principal: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> AuditPage:
    """Audit events, newest first, filtered; pass ``next_cursor`` for the next page."""
    if not 1 <= limit <= MAX_AUDIT_PAGE:
        raise InvalidInput(f"page size must be 1-{MAX_AUDIT_PAGE}, not {limit}")
    query = select(AuditRow)
    if principal is not None:
        query = query.where(AuditRow.principal == principal)
    if action is not None:
        query = query.where(AuditRow.action == action)
    if target is not None:
        query = query.where(AuditRow.target == target)
    if since is not None:
        query = query.where(AuditRow.time >= since)
    if until is not None:
        query = query.where(AuditRow.time < until)
    if cursor is not None:
        if not cursor.isdigit():
            raise InvalidInput(f"invalid cursor {cursor!r}")
        query = query.where(AuditRow.id < int(cursor))
    with ctx.database.read() as session:
        rows = session.scalars(query.order_by(AuditRow.id.desc()).limit(limit + 1)).all()
        items = tuple(
            AuditEvent(
                id=row.id,
                time=row.time,
                principal=row.principal,
                action=row.action,
                target=row.target,
                result=row.result,
                request_id=row.request_id,
                details=json.loads(row.details),
            )
            for row in rows[:limit]
        )
    next_cursor = str(items[-1].id) if len(rows) > limit else None
    return AuditPage(items=items, next_cursor=next_cursor)
