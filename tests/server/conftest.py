"""Fixtures of the service tests: real ``certward serve`` processes on free ports.

Starting a service costs about two seconds (bootstrap: master keys, CAs, server
certificate, admin), so one is shared per test session (per xdist worker):
tests on it only add things under unique names. Tests that stop a service or
need several workers get their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.service import Service, running_service


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One worker, started on a fresh data dir; shared by the tests of a session."""
    base = tmp_path_factory.mktemp("service")
    with running_service(base / "data", log=base / "serve.log") as running:
        yield running


@pytest.fixture(scope="session")
def two_worker_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """``--workers 2`` on a fresh data dir: each worker has its own TLS context and watcher."""
    base = tmp_path_factory.mktemp("service-2w")
    with running_service(base / "data", workers=2, log=base / "serve.log") as running:
        yield running


@pytest.fixture
def own_service(tmp_path: Path) -> Iterator[Service]:
    """A service for one test alone (for tests that stop it)."""
    with running_service(tmp_path / "data", log=tmp_path / "serve.log") as running:
        yield running
