"""Migration 0008: the certificate search index, built for stored rows, dropped, or done without.

SQLite gets an FTS5 trigram table kept by triggers; PostgreSQL gets pg_trgm
indexes, and a database where the extension cannot be created still migrates
(searches then scan).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from certward.ca.inventory import list_certificates
from certward.datadir import initialise_data_dir
from certward.store.database import Database
from tests.support.pki import PKI
from tests.support.postgres import POSTGRES_ADMIN_URL, postgres_available

MIGRATIONS = Path(__file__).parents[2] / "certward" / "store" / "migrations"


def _alembic(database: Database, target: str, *, down: bool = False) -> None:
    with database.engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, target)


def _search_objects(database: Database) -> set[str]:
    """The names of the search index's tables, triggers and indexes in the database."""
    with database.engine.connect() as connection:
        if database.is_sqlite:
            query = "SELECT name FROM sqlite_master WHERE name LIKE 'certificates_search%'"
        else:
            query = (
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                "AND indexname LIKE 'ix_certificates_search_%'"
            )
        return set(connection.execute(text(query)).scalars())


def _check_sqlite_index(database: Database) -> None:
    """FTS5's own check of the index against the certificate rows (raises when they differ)."""
    with database.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO certificates_search(certificates_search, rank) "
            "VALUES ('integrity-check', 1)"
        )


def _hosts(pki: PKI) -> set[str]:
    return {pki.issue_server(f"host{index}.example.com").serial for index in range(4)}


def _found(pki: PKI, search: str) -> set[str]:
    return {item.serial for item in list_certificates(pki.context, search=search).items}


def test_head_has_the_search_index_on_each_backend(pki: PKI) -> None:
    objects = _search_objects(pki.context.database)

    if pki.context.database.is_sqlite:
        assert {
            "certificates_search",
            "certificates_search_insert",
            "certificates_search_update",
            "certificates_search_delete",
        } <= objects
        _check_sqlite_index(pki.context.database)
    else:
        assert objects == {"ix_certificates_search_subject", "ix_certificates_search_sans"}


def test_downgrade_drops_the_index_and_searches_scan(pki: PKI) -> None:
    hosts = _hosts(pki)

    _alembic(pki.context.database, "0007", down=True)

    assert _search_objects(pki.context.database) == set()
    assert _found(pki, "example.com") == hosts


def test_upgrade_indexes_the_certificates_already_stored(pki: PKI) -> None:
    _alembic(pki.context.database, "0007", down=True)
    hosts = _hosts(pki)

    _alembic(pki.context.database, "head")

    assert _search_objects(pki.context.database)
    assert _found(pki, "example.com") == hosts
    if pki.context.database.is_sqlite:
        _check_sqlite_index(pki.context.database)


def test_the_index_stays_right_through_issuing_and_revoking(pki: PKI) -> None:
    from certward.ca.revoke import revoke_certificate

    hosts = _hosts(pki)
    revoke_certificate(pki.context, sorted(hosts)[0])

    assert _found(pki, "example.com") == hosts
    if pki.context.database.is_sqlite:
        _check_sqlite_index(pki.context.database)


# --- PostgreSQL without pg_trgm -------------------------------------------------------------


@pytest.fixture
def unprivileged_postgres_url() -> Iterator[str]:
    """A fresh database without pg_trgm, reached as a role that may not create extensions."""
    if not postgres_available():
        pytest.skip(f"PostgreSQL at {POSTGRES_ADMIN_URL} does not answer")
    name = f"cw_noext_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE ROLE "{name}" LOGIN')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    owner = create_engine(POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    with owner.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA app AUTHORIZATION "{name}"')
    owner.dispose()
    try:
        yield f"postgresql+psycopg://{name}@127.0.0.1:5432/{name}?options=-csearch_path%3Dapp"
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            connection.exec_driver_sql(f'DROP ROLE IF EXISTS "{name}"')
        admin.dispose()


@pytest.mark.pg
def test_without_pg_trgm_the_migration_succeeds_and_searches_scan(
    unprivileged_postgres_url: str, tmp_path: Path
) -> None:
    context = initialise_data_dir(tmp_path / "data", database=unprivileged_postgres_url)
    try:
        pki = PKI.create(context)
        hosts = _hosts(pki)

        current, head = context.database.schema_revisions()
        assert current == head
        assert _search_objects(context.database) == set()
        assert _found(pki, "example.com") == hosts
    finally:
        context.database.dispose()
