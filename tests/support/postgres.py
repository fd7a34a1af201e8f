"""The PostgreSQL server of the test machine: is it there, and a throw-away schema on it."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@functools.cache
def postgres_available() -> bool:
    """True when the server answers a query (checked once per test run)."""
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        _install_pg_trgm(engine)
        engine.dispose()
    except Exception:
        return False
    return True


def _install_pg_trgm(engine: Engine) -> None:
    """pg_trgm in ``public``, as an administrator installs it once per database.

    Migration 0008 would otherwise create it in the first test schema that runs it,
    and dropping that schema would take the other tests' search indexes with it.
    """
    # Refused (another worker created it at that moment, or the server lacks it): the
    # migration then finds it, or goes without the indexes, as it does in production.
    with contextlib.suppress(DBAPIError), engine.begin() as connection:
        connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))


@contextlib.contextmanager
def postgres_schema(name: str) -> Iterator[str]:
    """A URL whose search_path is a new schema ``name``; the schema is dropped afterwards."""
    engine = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{name}"'))
    try:
        yield f"{POSTGRES_ADMIN_URL}?options=-csearch_path%3D{name}"
    finally:
        with engine.connect() as connection:
            # Terminate leftovers of the test (pools not disposed) before dropping.
            connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        engine.dispose()
