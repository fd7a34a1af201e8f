"""The database: migrations match the models, schema checks, SQLite durability, transactions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select, text

from certward.errors import Conflict, SchemaMismatch, StorageError
from certward.store.database import Database, sqlite_url
from certward.store.models import Base, MetaValue, is_search_index

TABLES = {
    "acme_accounts",
    "acme_authorizations",
    "acme_challenges",
    "acme_eab_keys",
    "acme_nonces",
    "idempotency_keys",
    "acme_orders",
    "alembic_version",
    "audit_events",
    "cas",
    "cert_events",
    "cert_expiry_notices",
    "cert_slots",
    "certificates",
    "crls",
    "csr_jobs",
    "event_cursors",
    "kds_master_keys",
    "kds_nodes",
    "kms_aliases",
    "kms_import_tokens",
    "kms_key_versions",
    "kms_keys",
    "meta",
    "principals",
    "revocations",
    "service_nodes",
    "slot_certificates",
    "slot_crls",
    "slot_pending_keys",
}


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    """A database on each backend, not migrated yet."""
    db = Database(database_url)
    yield db
    db.dispose()


@pytest.fixture
def migrated(database: Database) -> Database:
    database.migrate()
    return database


def _meta_rows(db: Database) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(MetaValue)) or 0


# --- migrations -----------------------------------------------------------------------------


def test_migrate_creates_every_table_at_the_newest_revision(database: Database) -> None:
    database.migrate()

    current, head = database.schema_revisions()
    assert current == head
    tables = inspect(database.engine).get_table_names()
    assert {name for name in tables if not is_search_index(name)} == TABLES


def test_migrate_twice_changes_nothing(migrated: Database) -> None:
    with migrated.transaction() as session:
        session.add(MetaValue(key="kept", value="yes"))

    migrated.migrate()

    current, head = migrated.schema_revisions()
    assert current == head
    assert _meta_rows(migrated) == 1


def test_migrations_produce_exactly_the_models_schema(migrated: Database) -> None:
    with migrated.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                # Built by migration 0008 by hand (FTS5 / pg_trgm), not from the models.
                "include_name": lambda name, _type, _parents: not is_search_index(name),
            },
        )
        differences = compare_metadata(context, Base.metadata)

    assert differences == []


def test_empty_database_has_no_revision(database: Database) -> None:
    current, head = database.schema_revisions()

    assert current is None
    assert head


def test_check_schema_accepts_a_migrated_database(migrated: Database) -> None:
    migrated.check_schema()


def test_check_schema_refuses_an_unmigrated_database(database: Database) -> None:
    with pytest.raises(SchemaMismatch, match="certward migrate"):
        database.check_schema()


def test_check_schema_refuses_a_database_from_a_newer_certward(migrated: Database) -> None:
    with migrated.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))

    with pytest.raises(SchemaMismatch, match="newer"):
        migrated.check_schema()


def test_migrate_refuses_a_database_from_a_newer_certward(migrated: Database) -> None:
    with migrated.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))

    with pytest.raises(SchemaMismatch, match="newer"):
        migrated.migrate()

    assert migrated.schema_revisions()[0] == "ffff"


# --- transactions ---------------------------------------------------------------------------


def test_transaction_commits_when_the_block_ends(migrated: Database) -> None:
    with migrated.transaction() as session:
        session.add(MetaValue(key="k", value="v"))

    with migrated.read() as session:
        assert session.get(MetaValue, "k") is not None


def test_failed_transaction_leaves_nothing(migrated: Database) -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom), migrated.transaction() as session:
        session.add(MetaValue(key="a", value="1"))
        session.flush()
        session.add(MetaValue(key="b", value="2"))
        raise Boom

    assert _meta_rows(migrated) == 0


def test_constraint_violation_is_a_conflict_and_rolls_everything_back(migrated: Database) -> None:
    with migrated.transaction() as session:
        session.add(MetaValue(key="dup", value="first"))

    with pytest.raises(Conflict), migrated.transaction() as session:
        session.add(MetaValue(key="other", value="x"))
        session.flush()
        session.add(MetaValue(key="dup", value="second"))
        session.flush()

    assert _meta_rows(migrated) == 1


# --- SQLite durability ----------------------------------------------------------------------


@pytest.fixture
def sqlite_database(tmp_path: Path) -> Iterator[Database]:
    db = Database(sqlite_url(tmp_path / "durable.db"))
    yield db
    db.dispose()


def test_sqlite_runs_in_wal_mode(sqlite_database: Database) -> None:
    with sqlite_database.engine.connect() as connection:
        mode = connection.execute(text("PRAGMA journal_mode")).scalar()

    assert mode == "wal"


def test_sqlite_syncs_every_commit(sqlite_database: Database) -> None:
    with sqlite_database.engine.connect() as connection:
        synchronous = connection.execute(text("PRAGMA synchronous")).scalar()

    assert synchronous == 2  # FULL


def test_sqlite_enforces_foreign_keys(sqlite_database: Database) -> None:
    with sqlite_database.engine.connect() as connection:
        enabled = connection.execute(text("PRAGMA foreign_keys")).scalar()

    assert enabled == 1


def test_every_pooled_sqlite_connection_is_configured(sqlite_database: Database) -> None:
    # DBAPI connections: two SQLAlchemy ones would both BEGIN IMMEDIATE and wait on each other.
    first, second = sqlite_database.engine.raw_connection(), sqlite_database.engine.raw_connection()
    try:
        modes = {c.execute("PRAGMA synchronous").fetchone()[0] for c in (first, second)}
    finally:
        first.close()
        second.close()

    assert modes == {2}


def test_sqlite_url_is_absolute(tmp_path: Path) -> None:
    assert sqlite_url(Path("relative.db")).startswith("sqlite:////")


# --- unavailable databases ------------------------------------------------------------------

SECRET = "s3cr3t-pa55word"
UNREACHABLE = f"postgresql+psycopg://certward:{SECRET}@127.0.0.1:1/certward"


def test_unreachable_database_is_a_storage_error_without_the_password() -> None:
    db = Database(UNREACHABLE)

    with pytest.raises(StorageError) as caught:
        db.ping()

    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)
    assert "127.0.0.1" in str(caught.value)


def test_unreachable_database_in_a_transaction_is_a_storage_error_without_the_password() -> None:
    db = Database(UNREACHABLE)

    with pytest.raises(StorageError) as caught, db.transaction() as session:
        session.execute(text("SELECT 1"))

    assert SECRET not in str(caught.value)


def test_schema_check_of_an_unreachable_database_is_a_storage_error() -> None:
    db = Database(UNREACHABLE)

    with pytest.raises(StorageError) as caught:
        db.check_schema()

    assert SECRET not in str(caught.value)


def test_safe_url_hides_the_password() -> None:
    safe = Database(UNREACHABLE).safe_url

    assert SECRET not in safe
    assert safe.startswith("postgresql+psycopg://certward:")


def test_unknown_database_driver_is_a_storage_error() -> None:
    with pytest.raises(StorageError) as caught:
        Database(f"nosuchdb://user:{SECRET}@host/db")

    assert SECRET not in str(caught.value)
