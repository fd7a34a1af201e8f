"""``GET /v1/events``: the certificate manager's change events as Server-Sent Events.

Events are database rows, so any worker serves any client and a reconnecting
client resumes after ``Last-Event-ID`` (or ``?after=N``); without either the
stream starts with the next event. Each caller sees the events of the slots
it may manage (``certs.manage``); ``?slot=`` narrows further. A comment line
goes out every ``events.keepalive_seconds`` while nothing happens, so proxies
and clients notice a dead connection.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import StreamingResponse

from certward.access.grants import Permission, is_allowed
from certward.certs.events import events_after
from certward.certs.events_delivery import latest_event_id, sse_message
from certward.errors import InvalidInput
from certward.server.auth import Caller, blocking, caller

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["events"])
Who = Annotated[Caller, Depends(caller)]
_PAGE = 100
_RETRY_MILLISECONDS = 2000


def _start(last_event_id: str | None, after: int | None) -> int | None:
    if last_event_id is not None and last_event_id.strip():
        text = last_event_id.strip()
        if not text.isdigit() or len(text) > 19:
            raise InvalidInput("Last-Event-ID must be an event id (a non-negative integer)")
        return int(text)
    return after


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "event stream"}},
)
async def events(
    who: Who,
    slot: Annotated[str | None, Query(max_length=128)] = None,
    after: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
) -> StreamingResponse:
    """Stream change events (installed, replaced, deleted, expiring, crl_updated)."""
    who.require(Permission.CERTS_MANAGE, resource=slot)
    ctx = who.runtime.ctx
    settings = ctx.settings.events
    start = _start(last_event_id, after)
    position = start if start is not None else await blocking(lambda: latest_event_id(ctx))
    grants = who.principal.grants

    async def stream() -> AsyncIterator[bytes]:
        nonlocal position
        yield b"retry: %d\n: certward events after %d\n\n" % (_RETRY_MILLISECONDS, position)
        quiet_since = time.monotonic()
        while True:
            found = await blocking(partial(events_after, ctx, position, limit=_PAGE, slot=slot))
            for event in found:
                position = event.id
                if is_allowed(grants, Permission.CERTS_MANAGE, resource=event.slot):
                    yield sse_message(event)
                    quiet_since = time.monotonic()
            if len(found) == _PAGE:
                continue
            if time.monotonic() - quiet_since >= settings.keepalive_seconds:
                yield b": keep-alive\n\n"
                quiet_since = time.monotonic()
            await anyio.sleep(settings.poll_seconds)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
