"""The PostgreSQL server of the test machine: is it there, and a throw-away schema on it."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

from sqlalchemy import create_engine, text

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@functools.cache
def postgres_available() -> bool:
    """True when the server answers a query (checked once per test run)."""
    try:
        engine = create_engine(POSTGRES_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception:
        return False
    return True


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
