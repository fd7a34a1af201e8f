"""The overview page: CAs and their CRL ages, certificate counts, expiries, recent events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from certward.access.audit import AuditEvent
from certward.access.grants import Permission, is_allowed
from certward.ca.authority import CAInfo
from certward.ca.crl import PublishedCRL, latest_crl
from certward.ca.inventory_stats import certificate_counts, expiry_timeline
from certward.server.auth import Caller, blocking
from certward.server.ca_calls import read_audit_as, readable_cas
from certward.server.console.chart import expiry_chart
from certward.server.console.page import Page
from certward.server.console.render import render
from certward.server.console.security import ConsoleCaller

__all__ = ["PAGE", "router"]

router = APIRouter()
TIMELINE_DAYS = 90
RECENT_EVENTS = 10


@dataclass(frozen=True)
class CARow:
    """A CA with its newest CRL and whether that CRL is past its next update."""

    info: CAInfo
    crl: PublishedCRL
    stale: bool


def _weeks(days: list[Any]) -> list[tuple[str, int]]:
    # The table beside the chart: the same figures, a week per row.
    weeks = []
    for start in range(0, len(days), 7):
        chunk = days[start : start + 7]
        weeks.append(
            (f"{chunk[0].day:%Y-%m-%d} to {chunk[-1].day:%Y-%m-%d}", sum(d.count for d in chunk))
        )
    return weeks


def _overview(who: Caller) -> dict[str, Any]:
    context: dict[str, Any] = {"can_read_cas": is_allowed(who.principal.grants, Permission.CA_READ)}
    if context["can_read_cas"]:
        ctx = who.runtime.ctx
        cas = readable_cas(who)
        now = ctx.clock()
        rows = []
        for info in cas:
            crl = latest_crl(ctx, info.name)
            rows.append(CARow(info=info, crl=crl, stale=crl.next_update <= now))
        # Everything, unless some CAs are hidden from the caller: then only the readable ones.
        everything = is_allowed(who.principal.grants, Permission.CA_READ, resource="*")
        names = None if everything else [info.name for info in cas]
        days = expiry_timeline(ctx, days=TIMELINE_DAYS, ca_names=names)
        context.update(
            cas=rows,
            counts=certificate_counts(ctx, ca_names=names),
            chart=expiry_chart(days),
            weeks=_weeks(days),
            expiring_soon=sum(day.count for day in days[:28]),
            horizon=now + timedelta(days=TIMELINE_DAYS),
        )
    events: list[AuditEvent] = []
    can_audit = is_allowed(who.principal.grants, Permission.AUDIT_READ)
    if can_audit:
        events = list(read_audit_as(who, limit=RECENT_EVENTS).items)
    context.update(can_audit=can_audit, events=events)
    return context


@router.get("/", response_class=HTMLResponse)
async def show(request: Request, who: ConsoleCaller) -> HTMLResponse:
    """What the caller may see of the service at a glance."""
    context = await blocking(lambda: _overview(who))
    return render(request, "overview/page.html", caller=who, context=context)


PAGE = Page(name="overview", title="Overview", path="/", router=router)
