"""Two ``certward kds serve`` nodes on one PostgreSQL database (a fresh schema per test).

Node B's data dir is a copy of node A's (same keystore, as every node of a cluster
needs); both point at the same database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from certward.kds.ident import KeyIdent
from certward.kds.masterkeys import list_master_keys
from certward.kds.nodes import list_nodes
from tests.kds.kds_service import KdsPKI, copy_data_dir, running_kds
from tests.server.service import poll_until
from tests.support.postgres import POSTGRES_ADMIN_URL, postgres_available, postgres_schema

pytestmark = pytest.mark.pg

LOCALHOST = bytes([127, 0, 0, 1])
HEARTBEAT = 0.3


@pytest.fixture
def pg_url() -> Iterator[str]:
    if not postgres_available():
        pytest.skip(f"PostgreSQL at {POSTGRES_ADMIN_URL} does not answer")
    with postgres_schema(f"cw_{uuid.uuid4().hex[:12]}") as url:
        yield url


@pytest.fixture
def pki(tmp_path: Path, pg_url: str) -> Iterator[KdsPKI]:
    made = KdsPKI.create(tmp_path / "node-a", database=pg_url)
    yield made
    made.close()


def test_a_key_made_through_one_node_is_restored_through_the_other(
    tmp_path: Path, pki: KdsPKI, pg_url: str
) -> None:
    server = pki.server_identity()
    alice = pki.client_identity("urn:prjA#10s", stem="alice")
    bob = pki.client_identity("urn:prjA", stem="bob")
    other_dir = copy_data_dir(pki.data_dir, tmp_path / "node-b")
    with (
        running_kds(
            pki, server, log=tmp_path / "a.log", database=pg_url, heartbeat_seconds=HEARTBEAT
        ) as node_a,
        running_kds(
            pki,
            server,
            log=tmp_path / "b.log",
            data_dir=other_dir,
            database=pg_url,
            heartbeat_seconds=HEARTBEAT,
        ) as node_b,
    ):
        sent = node_a.request_key(KeyIdent(-1, 170_001, "urn:prjA"), alice)

        restored = node_b.request_key(KeyIdent(sent.timestamp, 170_001, "urn:prjA"), bob)

        assert (restored.timestamp, restored.key) == (sent.timestamp, sent.key)


def test_each_node_names_the_other_as_a_random_server(
    tmp_path: Path, pki: KdsPKI, pg_url: str
) -> None:
    server = pki.server_identity()
    alice = pki.client_identity("urn:prjA", stem="alice")
    other_dir = copy_data_dir(pki.data_dir, tmp_path / "node-b")
    ident = KeyIdent(-1, 1, "urn:prjA")
    with running_kds(
        pki, server, log=tmp_path / "a.log", database=pg_url, heartbeat_seconds=HEARTBEAT
    ) as node_a:
        assert node_a.request_key(ident, alice).servers == ()  # alone

        with running_kds(
            pki,
            server,
            log=tmp_path / "b.log",
            data_dir=other_dir,
            database=pg_url,
            heartbeat_seconds=HEARTBEAT,
        ) as node_b:
            from_a = poll_until(lambda: node_a.request_key(ident, alice).servers, within=15)
            from_b = node_b.request_key(ident, alice).servers

    assert from_a == (LOCALHOST,)  # node B (both listen on 127.0.0.1)
    assert from_b == (LOCALHOST,)  # node A


def test_when_the_publisher_dies_the_other_node_takes_over_publishing(
    tmp_path: Path, pki: KdsPKI, pg_url: str
) -> None:
    server = pki.server_identity()
    other_dir = copy_data_dir(pki.data_dir, tmp_path / "node-b")
    period = 0.00005  # days: a new master key every 4.3 s
    with (
        running_kds(
            pki,
            server,
            log=tmp_path / "a.log",
            database=pg_url,
            heartbeat_seconds=HEARTBEAT,
            publish_period=period,
        ) as node_a,
        running_kds(
            pki,
            server,
            log=tmp_path / "b.log",
            data_dir=other_dir,
            database=pg_url,
            heartbeat_seconds=HEARTBEAT,
            publish_period=period,
        ) as node_b,
    ):

        def publisher() -> str | None:
            nodes = list_nodes(pki.context, heartbeat_seconds=HEARTBEAT)
            found = [node for node in nodes if node.live and node.publisher]
            return found[0].node_id if len(found) == 1 else None

        first = poll_until(publisher, within=15)
        assert first is not None and first.endswith(f":{node_a.port}")

        node_a.kill()  # no goodbye: its database session just ends

        def published_by_b() -> list[int] | None:
            return [
                info.timestamp
                for info in list_master_keys(pki.context)
                if info.created_by and info.created_by.endswith(f":{node_b.port}")
            ] or None

        assert poll_until(published_by_b, within=30) is not None, node_b.output()
        second = poll_until(publisher, within=15)
        assert second is not None and second.endswith(f":{node_b.port}")
