"""The audit log page: every audited call, newest first, filtered and paged."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from certward.access.audit import AuditPage
from certward.errors import AccessDenied, CertwardError
from certward.server.auth import blocking
from certward.server.ca_calls import read_audit_as
from certward.server.console.form_values import FormErrors, field_errors, optional_date
from certward.server.console.page import Page
from certward.server.console.render import render
from certward.server.console.security import ConsoleCaller

__all__ = ["PAGE", "router"]

router = APIRouter()
PAGE_SIZE = 50
Filter = Annotated[str, Query(max_length=255)]


@router.get("/audit", response_class=HTMLResponse)
async def show(
    request: Request,
    who: ConsoleCaller,
    principal: Filter = "",
    action: Filter = "",
    target: Filter = "",
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    cursor: Annotated[str | None, Query(max_length=32)] = None,
) -> HTMLResponse:
    """Audit events (needs ``audit.read``); ``since``/``until`` are days (UTC), until exclusive."""
    values: dict[str, Any] = {
        "principal": principal,
        "action": action,
        "target": target,
        "since": since,
        "until": until,
    }
    errors = FormErrors()
    start = optional_date(errors, "since", since, label="From")
    end = optional_date(errors, "until", until, label="Until")

    def work() -> tuple[AuditPage | None, int]:
        if errors:
            read_audit_as(who, limit=1)  # refused first without the grant, as the API is
            return None, 400
        try:
            page = read_audit_as(
                who,
                principal=principal.strip() or None,
                action=action.strip() or None,
                target=target.strip() or None,
                since=start,
                until=end,
                limit=PAGE_SIZE,
                cursor=cursor,
            )
        except AccessDenied:
            raise
        except CertwardError as exc:
            errors.update(field_errors(exc, {}))
            return None, exc.status
        return page, 200

    page, status = await blocking(work)
    query = urlencode({key: value for key, value in values.items() if value})
    return render(
        request,
        "audit/page.html",
        caller=who,
        context={
            "events": list(page.items) if page else [],
            "next_cursor": page.next_cursor if page else None,
            "paged": cursor is not None,
            "values": values,
            "errors": errors,
            "query": query,
        },
        status=status,
    )


PAGE = Page(name="audit", title="Audit log", path="/audit", router=router)
