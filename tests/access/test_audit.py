"""The audit log: events stored with who, what, on what and how it ended; filters and paging."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from certward.access.audit import MAX_AUDIT_PAGE, AuditEvent, query_events, record_event
from certward.ca.context import CAContext
from certward.errors import InvalidInput

START = datetime(2030, 1, 1, tzinfo=UTC)


def record(
    ctx: CAContext,
    *,
    principal: str | None = "admin",
    action: str = "certificate.issue",
    target: str | None = "www.example.com",
    result: str = "ok",
    at: datetime = START,
) -> None:
    # A context whose clock says ``at``: the event's time is the service's, never the caller's.
    record_event(
        dataclasses.replace(ctx, clock=lambda: at),
        principal=principal,
        action=action,
        target=target,
        result=result,
        request_id=f"req-{action}-{target}-{at:%H%M}",
        details={"ca": "issuing"},
    )


def everything(ctx: CAContext, **filters: object) -> list[AuditEvent]:
    return list(query_events(ctx, limit=MAX_AUDIT_PAGE, **filters).items)  # type: ignore[arg-type]


@pytest.fixture
def history(ca_context: CAContext) -> CAContext:
    """Five events: alice issues twice and fails once, bob revokes, the admin disables."""
    minute = timedelta(minutes=1)
    record(ca_context, principal="alice", target="a.example", at=START)
    record(ca_context, principal="alice", target="b.example", at=START + minute)
    record(
        ca_context,
        principal="alice",
        target="c.example",
        result="ca.not_found",
        at=START + 2 * minute,
    )
    record(
        ca_context,
        principal="bob",
        action="certificate.revoke",
        target="0a1b",
        at=START + 3 * minute,
    )
    record(
        ca_context,
        principal="admin",
        action="principal.disable",
        target="alice",
        at=START + 4 * minute,
    )
    return ca_context


def test_an_event_keeps_who_what_target_result_request_and_time(ca_context: CAContext) -> None:
    record(ca_context, result="policy.san_not_allowed", at=START)

    (event,) = everything(ca_context)

    assert (event.principal, event.action, event.target, event.result) == (
        "admin",
        "certificate.issue",
        "www.example.com",
        "policy.san_not_allowed",
    )
    assert event.request_id == "req-certificate.issue-www.example.com-0000"
    assert event.time.replace(tzinfo=event.time.tzinfo or UTC) == START
    assert event.details == {"ca": "issuing"}


def test_events_come_newest_first(history: CAContext) -> None:
    targets = [event.target for event in everything(history)]

    assert targets == ["alice", "0a1b", "c.example", "b.example", "a.example"]


@pytest.mark.parametrize(
    ("filters", "targets"),
    [
        ({"principal": "alice"}, ["c.example", "b.example", "a.example"]),
        ({"action": "certificate.revoke"}, ["0a1b"]),
        ({"target": "alice"}, ["alice"]),
        ({"principal": "alice", "target": "b.example"}, ["b.example"]),
        ({"principal": "nobody"}, []),
        ({"since": START + timedelta(minutes=3)}, ["alice", "0a1b"]),
        ({"until": START + timedelta(minutes=1)}, ["a.example"]),
        (
            {"since": START + timedelta(minutes=1), "until": START + timedelta(minutes=3)},
            ["c.example", "b.example"],
        ),
    ],
    ids=["principal", "action", "target", "principal+target", "none", "since", "until", "window"],
)
def test_filters_narrow_the_events(
    history: CAContext, filters: dict[str, object], targets: list[str]
) -> None:
    assert [event.target for event in everything(history, **filters)] == targets


def test_the_cursor_pages_through_every_event_once(history: CAContext) -> None:
    pages: list[list[str | None]] = []
    cursor = None
    while True:
        page = query_events(history, limit=2, cursor=cursor)
        pages.append([event.target for event in page.items])
        cursor = page.next_cursor
        if cursor is None:
            break

    assert pages == [["alice", "0a1b"], ["c.example", "b.example"], ["a.example"]]


def test_the_cursor_keeps_the_filters(history: CAContext) -> None:
    first = query_events(history, principal="alice", limit=2)
    second = query_events(history, principal="alice", limit=2, cursor=first.next_cursor)

    assert [e.target for e in first.items] == ["c.example", "b.example"]
    assert [e.target for e in second.items] == ["a.example"]
    assert second.next_cursor is None


def test_an_exactly_full_last_page_has_no_next_cursor(history: CAContext) -> None:
    page = query_events(history, limit=5)

    assert len(page.items) == 5
    assert page.next_cursor is None


@pytest.mark.parametrize("limit", [0, -1, MAX_AUDIT_PAGE + 1])
def test_a_page_size_out_of_range_is_refused(ca_context: CAContext, limit: int) -> None:
    with pytest.raises(InvalidInput, match="page size"):
        query_events(ca_context, limit=limit)


@pytest.mark.parametrize("cursor", ["abc", "-1", "1 OR 1=1", ""])
def test_a_cursor_that_is_not_one_of_ours_is_refused(ca_context: CAContext, cursor: str) -> None:
    with pytest.raises(InvalidInput, match="cursor"):
        query_events(ca_context, cursor=cursor)
