"""``/v1/audit``: the audit log (``audit.read`` or admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from certward.server.auth import Caller, blocking, caller
from certward.server.ca_calls import read_audit_as
from certward.server.schemas import AuditEventOut, AuditPageOut

__all__ = ["router"]

router = APIRouter(prefix="/v1/audit", tags=["audit"])
Who = Annotated[Caller, Depends(caller)]


@router.get("", response_model=AuditPageOut)
async def list_(
    who: Who,
    principal: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    target: Annotated[str | None, Query(max_length=255)] = None,
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
) -> AuditPageOut:
    """Audit events, newest first."""

    def work() -> AuditPageOut:
        page = read_audit_as(
            who,
            principal=principal,
            action=action,
            target=target,
            since=since,
            until=until,
            limit=limit,
            cursor=cursor,
        )
        return AuditPageOut(
            items=[
                AuditEventOut(
                    id=e.id,
                    time=e.time,
                    principal=e.principal,
                    action=e.action,
                    target=e.target,
                    result=e.result,
                    request_id=e.request_id,
                    details=e.details,
                )
                for e in page.items
            ],
            next_cursor=page.next_cursor,
        )

    return await blocking(work)
