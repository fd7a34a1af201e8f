"""Fixtures of the security tests: one real ``certward serve`` shared per session (per worker).

Tests that need a configuration of their own (low rate limits) or a clean log
to scan (secrets) start their own service.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.server.service import Service, running_service


@pytest.fixture(scope="session")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One worker on a fresh data dir."""
    base = tmp_path_factory.mktemp("security-service")
    with running_service(base / "data", log=base / "serve.log") as running:
        yield running


@pytest.fixture(scope="session")
def openapi(service: Service) -> dict[str, Any]:
    """The service's own schema."""
    with service.client(None) as anonymous:
        response = anonymous.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document
