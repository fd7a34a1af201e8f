"""Several ``certward serve`` nodes on one PostgreSQL database behave as one service.

A node joins with a copy of the first node's ``keys/`` directory; a node with
other keys is refused. A revocation on one node reaches the TLS context and the
published CRL files of every other node without a restart.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.nodes import join_dir
from tests.server.service import (
    CERTWARD,
    Refusal,
    Service,
    poll_until,
    running_service,
)

pytestmark = pytest.mark.pg
PROPAGATION_LIMIT = 30.0  # generous for a loaded CI machine; the bench measures the real delay


@pytest.fixture
def two_nodes(tmp_path: Path, cluster_url: str) -> Iterator[tuple[Service, Service]]:
    first_dir = tmp_path / "node-a"
    with running_service(first_dir, log=tmp_path / "a.log", database=cluster_url) as first:
        second_dir = join_dir(first_dir, tmp_path / "node-b")
        with running_service(second_dir, log=tmp_path / "b.log", database=cluster_url) as second:
            yield first, second


def test_a_principal_made_on_one_node_is_known_to_the_other(
    two_nodes: tuple[Service, Service], tmp_path: Path
) -> None:
    first, second = two_nodes
    reader = first.create_principal(
        tmp_path / "reader", grants=[{"permission": "ca.read", "resources": ["*"]}]
    )
    # The admin identity lives in node A's data dir; node B knows it from the database.
    assert second.fresh_request(reader, context=first.ssl_context(reader)) == 200


def test_a_revocation_on_one_node_is_refused_by_the_other_without_restart(
    two_nodes: tuple[Service, Service], tmp_path: Path
) -> None:
    first, second = two_nodes
    leaver = first.create_principal(
        tmp_path / "leaver", grants=[{"permission": "ca.read", "resources": ["*"]}]
    )
    context = first.ssl_context(leaver)
    assert second.fresh_request(leaver, context=context) == 200

    with first.client() as api:
        assert api.post(f"/v1/principals/{leaver.name}/disable").status_code == 200

    def refused() -> bool:
        outcome = second.fresh_request(leaver, context=context)
        return isinstance(outcome, Refusal) and outcome.certificate_revoked

    assert poll_until(refused, within=PROPAGATION_LIMIT), second.output()

    # Node B's published CRL files caught up with the database too.
    with first.client() as api:
        response = api.get("/ca/issuing/crl")
    assert response.status_code == 200
    crl = response.content

    def published() -> bool:
        path = second.data_dir / "published" / "issuing" / "crl.der"
        return path.exists() and path.read_bytes() == crl

    assert poll_until(published, within=PROPAGATION_LIMIT)


def _serve_refused(data_dir: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CERTWARD), "-d", str(data_dir), "--database", url, "serve", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_node_with_other_master_keys_refuses_to_start(tmp_path: Path, cluster_url: str) -> None:
    first_dir = tmp_path / "node-a"
    with running_service(first_dir, log=tmp_path / "a.log", database=cluster_url):
        pass
    stranger = tmp_path / "stranger"
    subprocess.run(
        [str(CERTWARD), "-d", str(stranger), "init"], capture_output=True, check=True, timeout=60
    )
    result = _serve_refused(stranger, cluster_url)
    assert result.returncode != 0
    assert "does not belong to this database" in result.stderr
    assert result.stderr.count("\n") == 1

    keyless = tmp_path / "keyless"
    keyless.mkdir(mode=0o700)
    shutil.copy2(first_dir / "certward.toml", keyless / "certward.toml")
    result = _serve_refused(keyless, cluster_url)
    assert result.returncode != 0
    assert "keys" in result.stderr and result.stderr.startswith("error: ")


def test_status_lists_every_live_node_and_a_stopped_one_leaves(
    two_nodes: tuple[Service, Service], cluster_url: str
) -> None:
    first, second = two_nodes

    def status() -> dict[str, object]:
        result = subprocess.run(
            [
                str(CERTWARD),
                "-d",
                str(first.data_dir),
                "--database",
                cluster_url,
                "status",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        report: dict[str, object] = json.loads(result.stdout)
        return report

    nodes = status()["nodes"]
    assert isinstance(nodes, list)
    assert sorted(node["url"] for node in nodes if node["live"]) == sorted([first.url, second.url])
    assert second.stop() == 0
    remaining = status()["nodes"]
    assert isinstance(remaining, list)
    assert [node["url"] for node in remaining] == [first.url]
