"""Fixtures of the cluster tests: nodes on one PostgreSQL schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.cluster.nodes import join_dir
from tests.server.service import Service, running_service
from tests.support.postgres import postgres_available, postgres_schema


@pytest.fixture
def cluster_url() -> Iterator[str]:
    """A fresh PostgreSQL schema for one cluster (skips when PostgreSQL does not answer)."""
    if not postgres_available():
        pytest.skip("PostgreSQL at 127.0.0.1:5432 does not answer")
    with postgres_schema(f"cw_{uuid.uuid4().hex[:12]}") as url:
        yield url


@pytest.fixture
def three_nodes(tmp_path: Path, cluster_url: str) -> Iterator[list[Service]]:
    """Three nodes on one database, the second and third joined with the first's keys."""
    with ExitStack() as stack:
        first_dir = tmp_path / "node-a"
        first = stack.enter_context(
            running_service(first_dir, log=tmp_path / "a.log", database=cluster_url)
        )
        nodes = [first]
        for name in ("b", "c"):
            data_dir = join_dir(first_dir, tmp_path / f"node-{name}")
            nodes.append(
                stack.enter_context(
                    running_service(data_dir, log=tmp_path / f"{name}.log", database=cluster_url)
                )
            )
        yield nodes
