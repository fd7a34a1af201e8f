"""Fixtures of the cluster tests: three nodes on one PostgreSQL schema."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.cluster.test_nodes import join_dir
from tests.server.service import Service, running_service
from tests.support.postgres import postgres_available, postgres_schema


@pytest.fixture
def three_nodes(tmp_path: Path) -> Iterator[list[Service]]:
    if not postgres_available():
        pytest.skip("PostgreSQL at 127.0.0.1:5432 does not answer")
    with (
        postgres_schema(f"cw_{os.urandom(6).hex()}") as url,
        ExitStack() as stack,
    ):
        first_dir = tmp_path / "node-a"
        first = stack.enter_context(
            running_service(first_dir, log=tmp_path / "a.log", database=url)
        )
        nodes = [first]
        for name in ("b", "c"):
            data_dir = join_dir(first_dir, tmp_path / f"node-{name}")
            nodes.append(
                stack.enter_context(
                    running_service(data_dir, log=tmp_path / f"{name}.log", database=url)
                )
            )
        yield nodes
