"""The KDS page: the master key timeline, the current key, the publisher and the nodes.

Read-only, as ``certward kds status``: the master keys by their timestamps (never
their bytes), which one is current (the second-newest: the newest is held back one
period so every node has it first), the node that publishes, and every registered
node with its heartbeat. The timeline is server-rendered SVG with a table beside it.
Seeing it needs ``admin`` or ``metrics.read`` (operational status, as ``/metrics``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from certward.access.grants import Permission, is_allowed
from certward.kds.masterkeys import MasterKeyInfo, current_timestamp, list_master_keys
from certward.kds.nodes import NodeInfo, list_nodes
from certward.server.auth import Caller, blocking
from certward.server.console.page import Page
from certward.server.console.render import render
from certward.server.console.security import ConsoleCaller

__all__ = ["PAGE", "KeyMark", "Timeline", "master_key_timeline", "router"]

router = APIRouter()
SHOWN_KEYS = 100  # the table lists this many newest keys; the chart shows them all
WIDTH = 720
HEIGHT = 120
_LEFT = 12
_RIGHT = 12
_AXIS_Y = 84
_MIN_SPAN = timedelta(days=1)


@dataclass(frozen=True)
class KeyMark:
    """A master key on the timeline: where, which role, and its tooltip."""

    x: float
    role: str  # "current", "newest" (held back) or "older"
    title: str


@dataclass(frozen=True)
class Tick:
    """A date label on the time axis."""

    x: float
    label: str


@dataclass(frozen=True)
class Timeline:
    """Everything the SVG template draws."""

    width: int
    height: int
    axis_y: int
    left: int
    right: int
    marks: tuple[KeyMark, ...]
    ticks: tuple[Tick, ...]
    now_x: float
    start: datetime
    end: datetime


def _when(timestamp_ms: int) -> datetime:
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC)


def _role(timestamp: int, current: int | None, newest: int | None) -> str:
    if timestamp == current:
        return "current"
    if timestamp == newest:
        return "newest"
    return "older"


def master_key_timeline(
    keys: Sequence[MasterKeyInfo], *, now: datetime, lifespan_days: float
) -> Timeline:
    """The keys as marks on a time axis from the oldest (or a lifespan ago) to now."""
    stamps = [info.timestamp for info in keys]
    current = current_timestamp(stamps)
    newest = stamps[-1] if stamps else None
    end = max(now, _when(stamps[-1])) if stamps else now
    start = (
        min(_when(stamps[0]), end - _MIN_SPAN) if stamps else now - timedelta(days=lifespan_days)
    )
    margin = (end - start) * 0.03  # room for the marks at the edges
    start, end = start - margin, end + margin
    plot = WIDTH - _LEFT - _RIGHT

    def x_of(moment: datetime) -> float:
        return round(_LEFT + plot * ((moment - start) / (end - start)), 2)

    marks = tuple(
        KeyMark(
            x=x_of(_when(stamp)),
            role=_role(stamp, current, newest),
            title=f"{stamp} ({_when(stamp):%Y-%m-%d %H:%M:%S} UTC)",
        )
        for stamp in stamps
    )
    total = end - start
    label = "%H:%M" if total <= timedelta(days=2) else "%Y-%m-%d"
    ticks = tuple(
        Tick(x=x_of(start + total * (i / 4)), label=f"{start + total * (i / 4):{label}}")
        for i in range(5)
    )
    return Timeline(
        width=WIDTH,
        height=HEIGHT,
        axis_y=_AXIS_Y,
        left=_LEFT,
        right=WIDTH - _RIGHT,
        marks=marks,
        ticks=ticks,
        now_x=x_of(now),
        start=start,
        end=end,
    )


@dataclass(frozen=True)
class KeyRow:
    """A master key in the table."""

    timestamp: int
    created: datetime
    created_by: str | None
    role: str
    expires: datetime


def _status(who: Caller) -> dict[str, Any]:
    ctx = who.runtime.ctx
    settings = ctx.settings.kds
    keys = list_master_keys(ctx)
    stamps = [info.timestamp for info in keys]
    current = current_timestamp(stamps)
    newest = stamps[-1] if stamps else None
    nodes: list[NodeInfo] = list_nodes(ctx, heartbeat_seconds=settings.heartbeat_seconds)
    publisher = next((node for node in nodes if node.live and node.publisher), None)
    lifespan = timedelta(days=settings.key_lifespan_days)
    rows = [
        KeyRow(
            timestamp=info.timestamp,
            created=_when(info.timestamp),
            created_by=info.created_by,
            role=_role(info.timestamp, current, newest),
            expires=_when(info.timestamp) + lifespan,
        )
        for info in reversed(keys[-SHOWN_KEYS:])
    ]
    now = datetime.now(UTC)
    return {
        "settings": settings,
        "count": len(keys),
        "rows": rows,
        "shown": SHOWN_KEYS,
        "current": current,
        "current_at": _when(current) if current is not None else None,
        "newest": newest,
        "newest_at": _when(newest) if newest is not None else None,
        "publisher": publisher,
        "nodes": nodes,
        "live": sum(node.live for node in nodes),
        "timeline": master_key_timeline(keys, now=now, lifespan_days=settings.key_lifespan_days),
    }


@router.get("/kds", response_class=HTMLResponse)
async def show(request: Request, who: ConsoleCaller) -> HTMLResponse:
    """The state of the key distribution service, as the database sees it now."""
    # admin covers it too (an admin grant allows everything).
    allowed = is_allowed(who.principal.grants, Permission.METRICS_READ)
    context = await blocking(lambda: _status(who)) if allowed else {}
    return render(request, "kds/page.html", caller=who, context={"allowed": allowed, **context})


PAGE = Page(name="kds", title="KDS", path="/kds", router=router)
