"""The node registry (heartbeats, live nodes, random servers) and the publisher election."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text, update

from certward.ca.context import CAContext
from certward.kds.nodes import (
    PublisherElection,
    address_of,
    heartbeat,
    list_nodes,
    random_servers,
    register_node,
    unregister_node,
)
from certward.store.database import Database
from certward.store.models import KdsNodeRow
from tests.support.postgres import POSTGRES_ADMIN_URL, postgres_available, postgres_schema

A = ipaddress.ip_address("10.0.0.1").packed
B = ipaddress.ip_address("10.0.0.2").packed
C = ipaddress.ip_address("2001:db8::3").packed


def _register(ctx: CAContext, node_id: str, address: bytes, port: int = 8444) -> None:
    register_node(ctx, node_id=node_id, host="h", port=port, address=address)


def _age(ctx: CAContext, node_id: str, seconds: float) -> None:
    """Make a node's last heartbeat ``seconds`` old (as if it stopped beating)."""
    with ctx.database.transaction() as session:
        session.execute(
            update(KdsNodeRow)
            .where(KdsNodeRow.node_id == node_id)
            .values(heartbeat_at=datetime.now(UTC) - timedelta(seconds=seconds))
        )


@pytest.fixture
def elections(ca_context: CAContext) -> Iterator[list[PublisherElection]]:
    """Election handles of separate "nodes" (own database pools) on the test's database."""
    made: list[PublisherElection] = []
    databases: list[Database] = []

    def node() -> PublisherElection:
        database = Database(ca_context.database.url)
        databases.append(database)
        election = PublisherElection(database)
        made.append(election)
        return election

    handles = [node(), node()]
    yield handles
    for election in made:
        election.release()
    for database in databases:
        database.dispose()


def test_a_registered_node_is_live_while_it_beats(ca_context: CAContext) -> None:
    _register(ca_context, "a", A)

    assert heartbeat(ca_context, "a", publisher=True)
    [node] = list_nodes(ca_context, heartbeat_seconds=5)

    assert (node.node_id, node.address_text, node.live, node.publisher) == (
        "a",
        "10.0.0.1",
        True,
        True,
    )


def test_a_node_silent_for_three_periods_is_not_live(ca_context: CAContext) -> None:
    _register(ca_context, "a", A)
    _register(ca_context, "b", B)
    _age(ca_context, "b", 16)

    live = {node.node_id: node.live for node in list_nodes(ca_context, heartbeat_seconds=5)}

    assert live == {"a": True, "b": False}


def test_a_heartbeat_of_an_unregistered_node_says_so(ca_context: CAContext) -> None:
    _register(ca_context, "a", A)
    unregister_node(ca_context, "a")

    assert heartbeat(ca_context, "a", publisher=False) is False
    assert list_nodes(ca_context, heartbeat_seconds=5) == []


def test_registering_again_after_a_restart_replaces_the_old_entry(ca_context: CAContext) -> None:
    _register(ca_context, "a", A, port=1)
    _register(ca_context, "a", B, port=2)

    [node] = list_nodes(ca_context, heartbeat_seconds=5)

    assert (node.address, node.port) == (B, 2)


def test_random_servers_are_the_live_others_then_the_peers_without_repeats(
    ca_context: CAContext,
) -> None:
    for node_id, address in (("self", A), ("b", B), ("c", C), ("b2", B), ("gone", A)):
        _register(ca_context, node_id, address)
    _age(ca_context, "gone", 60)
    nodes = list_nodes(ca_context, heartbeat_seconds=5)

    servers = random_servers(nodes, own_node_id="self", extra=(C, A))

    assert servers == (B, C, A)


def test_an_address_is_the_literal_ip_or_a_resolved_or_routable_one() -> None:
    assert address_of("127.0.0.1") == bytes([127, 0, 0, 1])
    assert address_of("[::1]") == ipaddress.ip_address("::1").packed
    assert address_of("localhost") in (bytes([127, 0, 0, 1]), ipaddress.ip_address("::1").packed)
    assert not ipaddress.ip_address(address_of("0.0.0.0")).is_unspecified  # noqa: S104


def test_only_one_node_holds_the_publisher_election(
    elections: list[PublisherElection],
) -> None:
    first, second = elections

    assert first.try_acquire() is True
    assert first.try_acquire() is True  # held: stays held
    assert second.try_acquire() is False
    assert (first.held, second.held) == (True, False)


def test_the_election_passes_on_when_the_publisher_lets_go(
    elections: list[PublisherElection],
) -> None:
    first, second = elections
    assert first.try_acquire()

    first.release()

    assert second.try_acquire() is True
    assert first.try_acquire() is False


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL schema (advisory locks are per database: the schema keys them)."""
    if not postgres_available():
        pytest.skip(f"PostgreSQL at {POSTGRES_ADMIN_URL} does not answer")
    with postgres_schema(f"cw_{uuid.uuid4().hex[:12]}") as url:
        yield url


def _terminate_lock_holder(schema_url: str) -> None:
    """End the session that holds the publisher lock of ``schema_url``'s schema (as a crash).

    ``pg_terminate_backend`` only signals the backend unless given a timeout; with one
    it returns once the session has exited, so its advisory lock is gone.
    """
    probe = create_engine(schema_url)
    with probe.connect() as connection:
        schema = connection.scalar(text("SELECT current_schema()"))
    probe.dispose()
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        ended = connection.scalar(
            text(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 10000)) FROM pg_locks "
                "WHERE locktype = 'advisory' AND granted AND classid = :cls "
                "AND objid::bigint = (hashtext(:schema)::bigint + 4294967296) % 4294967296"
            ),
            {"cls": 0x4B445350, "schema": schema},
        )
    admin.dispose()
    assert ended == 1


@pytest.mark.pg
def test_a_publisher_whose_session_dies_loses_the_election_to_another_node(
    pg_url: str,
) -> None:
    first_db, second_db = Database(pg_url), Database(pg_url)
    first, second = PublisherElection(first_db), PublisherElection(second_db)
    try:
        assert first.try_acquire()
        assert second.try_acquire() is False

        _terminate_lock_holder(pg_url)

        assert second.try_acquire() is True
        assert first.try_acquire() is False
        assert first.held is False
    finally:
        first.release()
        second.release()
        first_db.dispose()
        second_db.dispose()
