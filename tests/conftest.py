"""Fixtures shared by every test: real openssl, real SQLite files, the real PostgreSQL.

``ca_context`` runs each test that uses it on SQLite and, whenever the server at
127.0.0.1:5432 answers, on PostgreSQL too (a fresh schema per test, dropped after).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from certward.ca.context import CAContext
from certward.datadir import initialise_data_dir
from tests.support.pki import PKI
from tests.support.postgres import POSTGRES_ADMIN_URL, postgres_available, postgres_schema

OPENSSL = shutil.which("openssl")


def pytest_runtest_setup(item: pytest.Item) -> None:
    # Interop tests never skip: the test command installs openssl, so its absence is a failure.
    if item.get_closest_marker("interop") is not None and OPENSSL is None:
        pytest.fail("openssl is not installed; run the README's test command, which installs it")


@pytest.fixture
def openssl() -> str:
    """Path of the real openssl binary."""
    assert OPENSSL is not None, "openssl is not installed"
    return OPENSSL


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: an SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'certward.db'}"
        return
    if not postgres_available():
        pytest.skip(f"PostgreSQL at {POSTGRES_ADMIN_URL} does not answer")
    with postgres_schema(f"cw_{uuid.uuid4().hex[:12]}") as url:
        yield url


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Where a test's certward data dir goes (not created yet)."""
    return tmp_path / "certward-data"


@pytest.fixture
def ca_context(data_dir: Path, database_url: str) -> Iterator[CAContext]:
    """An initialised data dir on each database backend."""
    context = initialise_data_dir(data_dir, database=database_url)
    yield context
    context.database.dispose()


@pytest.fixture
def pki(ca_context: CAContext) -> PKI:
    """A root CA and an issuing CA under it, trustme-style helpers to issue from them."""
    return PKI.create(ca_context)
