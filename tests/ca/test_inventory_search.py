"""Inventory search by an index: the same answers as a scan of every row, found without one.

The answer a search must give is written out here as the scan's rule: a
case-insensitive substring of the subject or of the SANs, every character of
the search text literal. SQLite serves searches of three characters or more
from its FTS5 trigram index, PostgreSQL from pg_trgm indexes; shorter searches
scan.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, event, update
from sqlalchemy.engine import Engine

from certward.ca.inventory import (
    CertificateStatus,
    CertificateSummary,
    list_certificates,
)
from certward.ca.issue import issue_certificate
from certward.ca.revoke import revoke_certificate
from certward.store.models import CertificateRow
from tests.support.pki import PKI

CLIENT_NAMES = (
    "Alpha Web-01",
    "50%_off\\sale",
    'quote"d name',
    "a_b",
    "axb",
    "100%",
    "1000",
    "Ünïcode Straße",
    "O'Brien \\ Sons",
)
SEARCHES = (
    "alpha",
    "ALPHA WEB",
    "web-01",
    "  alpha  ",
    "example",
    "EXAMPLE.ORG",
    "shop.example.net",
    "10.20.30",
    "10.20.30.41",
    "dns:db",
    "%",
    "_",
    "\\",
    "50%",
    "%_o",
    "a_b",
    "_off\\s",
    '"',
    '"d n',
    "100%",
    "straße",
    "o'brien",
    "n \\ s",
    "'",
    "test issuing",
    "a",
    "al",
    "WE",
    "no-such-name",
)


@pytest.fixture
def inventory(pki: PKI) -> PKI:
    """Clients with awkward names, servers with DNS and IP SANs (and the two CAs)."""
    for name in CLIENT_NAMES:
        pki.issue_client(name)
    issue_certificate(
        pki.context,
        ca_name="issuing",
        profile="server",
        common_name="api.Example.org",
        sans=["DNS:api.example.org", "DNS:www.shop.example.net", "IP:10.20.30.40"],
    )
    issue_certificate(
        pki.context,
        ca_name="issuing",
        profile="server",
        common_name="db.internal",
        sans=["DNS:db.internal", "IP:10.20.30.41"],
        days=10,
    )
    return pki


def _everything(pki: PKI) -> list[CertificateSummary]:
    page = list_certificates(pki.context, limit=1000)
    assert page.next_cursor is None
    return list(page.items)


def _scan_rule(item: CertificateSummary, search: str) -> bool:
    """What a search has always meant (the test names keep to where lower() agrees)."""
    needle = search.strip().lower()
    return needle in item.subject.lower() or needle in " ".join(item.sans).lower()


def _walk(pki: PKI, *, limit: int, **filters: Any) -> list[str]:
    """Every serial a search lists, page after page."""
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = list_certificates(pki.context, limit=limit, cursor=cursor, **filters)
        seen.extend(item.serial for item in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return seen


def _expected(pki: PKI, search: str, **rule: Any) -> list[str]:
    status = rule.get("status")
    return [
        item.serial
        for item in _everything(pki)
        if _scan_rule(item, search)
        and (rule.get("ca_name") is None or item.ca_name == rule["ca_name"])
        and (status is None or item.status is status)
    ]


# --- the same answers as the scan -----------------------------------------------------------


@pytest.mark.parametrize("search", SEARCHES)
def test_search_lists_what_the_scan_rule_matches_newest_first(inventory: PKI, search: str) -> None:
    assert _walk(inventory, limit=1000, search=search) == _expected(inventory, search)


def test_the_searches_cover_hits_and_misses(inventory: PKI) -> None:
    hits = {search: len(_expected(inventory, search)) for search in SEARCHES}

    assert hits["no-such-name"] == 0
    assert hits["a_b"] == 1  # not "axb"
    assert hits["%"] == 2
    assert hits["alpha"] == 1
    assert hits["example"] == 1


@pytest.mark.parametrize("search", ["example", "10.20.30", "%", "a", "name"])
def test_search_pages_walk_every_match_exactly_once(inventory: PKI, search: str) -> None:
    assert _walk(inventory, limit=1, search=search) == _expected(inventory, search)


def test_search_finds_the_revoked_state_and_keeps_the_status_filter(inventory: PKI) -> None:
    victim = next(item for item in _everything(inventory) if item.common_name == "a_b")
    revoke_certificate(inventory.context, victim.serial)

    revoked = _walk(inventory, limit=10, search="a_b", status=CertificateStatus.REVOKED)
    valid = _walk(inventory, limit=10, search="a_b", status=CertificateStatus.VALID)

    assert revoked == [victim.serial]
    assert valid == []


def test_search_keeps_the_ca_and_expiry_filters(inventory: PKI) -> None:
    soon = _walk(inventory, limit=10, search="10.20.30", expiring_within=timedelta(days=30))
    by_root = _walk(inventory, limit=10, search="test", ca_name="root")

    assert [item.common_name for item in _everything(inventory) if item.serial in soon] == [
        "db.internal"
    ]
    assert by_root == _expected(inventory, "test", ca_name="root")
    assert len(by_root) == 2


def test_search_follows_a_changed_subject_and_sans(inventory: PKI) -> None:
    target = next(item for item in _everything(inventory) if item.common_name == "db.internal")
    with inventory.context.database.transaction() as session:
        session.execute(
            update(CertificateRow)
            .where(CertificateRow.serial == target.serial)
            .values(subject="CN=renamed-host", sans="DNS:renamed.example")
        )

    assert _walk(inventory, limit=10, search="renamed") == [target.serial]
    assert _walk(inventory, limit=10, search="db.internal") == []


def test_search_forgets_a_deleted_certificate(inventory: PKI) -> None:
    target = next(item for item in _everything(inventory) if item.common_name == "Alpha Web-01")
    with inventory.context.database.transaction() as session:
        session.execute(delete(CertificateRow).where(CertificateRow.serial == target.serial))

    assert _walk(inventory, limit=10, search="alpha web") == []


def test_search_finds_a_certificate_issued_after_the_first_search(inventory: PKI) -> None:
    assert _walk(inventory, limit=10, search="late-comer") == []

    late = inventory.issue_client("late-comer")

    assert _walk(inventory, limit=10, search="LATE-COMER") == [late.serial]


# --- the query plan -------------------------------------------------------------------------


@contextmanager
def _statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The certificates SELECTs (and their parameters) ``engine`` sends inside the block."""
    seen: list[tuple[str, Any]] = []

    def remember(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM certificates" in statement:
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", remember)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", remember)


def _plan(pki: PKI, search: str) -> str:
    """The query plan of the listing statement a search sends (indexes preferred on PostgreSQL).

    PostgreSQL may rightly scan a table this small; with plain scans priced out it
    shows whether an index can serve the search at all.
    """
    engine = pki.context.database.engine
    with _statements(engine) as seen:
        list_certificates(pki.context, search=search, limit=10)
    statement, parameters = seen[-1]
    with engine.begin() as connection:
        if pki.context.database.is_sqlite:
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            return "\n".join(str(row[-1]) for row in rows)
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        connection.exec_driver_sql("SET LOCAL enable_indexscan = off")
        rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
        return "\n".join(str(row[0]) for row in rows)


def _scans_certificates(plan: str) -> bool:
    return any(
        step.strip().split(" ")[:2] == ["SCAN", "certificates"]
        or "Seq Scan on certificates" in step
        for step in plan.splitlines()
    )


def test_a_search_reads_the_index_not_every_row(inventory: PKI) -> None:
    plan = _plan(inventory, "shop.example")

    assert not _scans_certificates(plan), plan
    if inventory.context.database.is_sqlite:
        assert "SCAN certificates_search VIRTUAL TABLE" in plan, plan
    else:
        assert "ix_certificates_search_subject" in plan, plan
        assert "ix_certificates_search_sans" in plan, plan


def test_a_search_of_two_characters_does_not_touch_the_index(inventory: PKI) -> None:
    # No trigram in it: PostgreSQL would read the whole trigram index, slower than the table.
    plan = _plan(inventory, "ab")

    assert "certificates_search" not in plan, plan
