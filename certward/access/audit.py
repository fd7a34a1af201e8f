"""The audit log: every mutating call, who made it, on what, and how it ended.

Each event is a row in ``audit_events`` and a structured log line. Details never
hold secrets: callers pass names, serials and codes only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import structlog
from sqlalchemy import Table, select

from certward.ca.context import CAContext
from certward.ca.group_commit import GroupCommitWriter, TableRow
from certward.errors import InvalidInput
from certward.store.models import AuditRow

__all__ = [
    "AUDIT_TABLE",
    "MAX_AUDIT_PAGE",
    "AuditEvent",
    "AuditPage",
    "audit_row",
    "log_event",
    "query_events",
    "record_event",
]

_log = structlog.get_logger()
AUDIT_TABLE = cast(Table, AuditRow.__table__)
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


def audit_row(
    ctx: CAContext,
    *,
    principal: str | None,
    action: str,
    target: str | None,
    result: str,
    request_id: str | None,
    details: dict[str, Any] | None = None,
) -> TableRow:
    """The ``audit_events`` row of one event, to store alongside the change it describes."""
    return (
        AUDIT_TABLE,
        {
            "time": ctx.clock(),
            "principal": principal,
            "action": action,
            "target": target,
            "result": result,
            "request_id": request_id,
            "details": json.dumps(details or {}, sort_keys=True, default=str),
        },
    )


def log_event(row: TableRow) -> None:
    """The structured log line of an audit row."""
    values = row[1]
    _log.info(
        "audit",
        principal=values["principal"],
        action=values["action"],
        target=values["target"],
        result=values["result"],
        request_id=values["request_id"],
        details=values["details"],
    )


def record_event(
    ctx: CAContext,
    *,
    principal: str | None,
    action: str,
    target: str | None,
    result: str,
    request_id: str | None,
    details: dict[str, Any] | None = None,
    writer: GroupCommitWriter | None = None,
) -> None:
    """Store one audit event (in a shared commit when ``writer`` is given) and log it."""
    row = audit_row(
        ctx,
        principal=principal,
        action=action,
        target=target,
        result=result,
        request_id=request_id,
        details=details,
    )
    if writer is not None:
        writer.store_all([row])
    else:
        with ctx.database.transaction() as session:
            session.execute(AUDIT_TABLE.insert(), [row[1]])
    log_event(row)


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
