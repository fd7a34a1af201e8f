"""certificate search index

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 22:00:00

Substring search of certificates' subject and SANs by an index instead of a scan.

- SQLite: ``certificates_search``, an FTS5 table with the trigram tokenizer over
  ``certificates`` (external content, rowid = ``certificates.id``), kept in step
  by triggers on every insert, delete and change of subject/SANs, whatever path
  writes the rows. A later migration that rebuilds ``certificates`` (batch
  mode: copy, drop, rename) drops these triggers with the old table and must
  create them again. Without FTS5 in the SQLite library the index is left out
  and searches scan, as before.
- PostgreSQL: GIN indexes with pg_trgm's ``gin_trgm_ops`` on ``lower(subject)``
  and ``lower(sans)``, the very expressions the search compares. The extension
  is created if missing; when it cannot be (no privilege, not installed on the
  server), the migration still succeeds without the indexes and searches scan.
  A database administrator can add them later: ``CREATE EXTENSION pg_trgm``,
  then the two ``CREATE INDEX`` statements below.

Existing rows are indexed by the upgrade; the downgrade drops the index (and
leaves the extension, which other schemas of the database may use).
"""

import sqlalchemy as sa
import structlog
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_log = structlog.get_logger()

_SQLITE_UP = (
    "CREATE VIRTUAL TABLE certificates_search USING fts5("
    "subject, sans, content='certificates', content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER certificates_search_insert AFTER INSERT ON certificates BEGIN "
    "INSERT INTO certificates_search(rowid, subject, sans) "
    "VALUES (new.id, new.subject, new.sans); END",
    "CREATE TRIGGER certificates_search_delete AFTER DELETE ON certificates BEGIN "
    "INSERT INTO certificates_search(certificates_search, rowid, subject, sans) "
    "VALUES ('delete', old.id, old.subject, old.sans); END",
    # Only a change of what is indexed touches the index (a revocation does not).
    "CREATE TRIGGER certificates_search_update AFTER UPDATE OF id, subject, sans "
    "ON certificates BEGIN "
    "INSERT INTO certificates_search(certificates_search, rowid, subject, sans) "
    "VALUES ('delete', old.id, old.subject, old.sans); "
    "INSERT INTO certificates_search(rowid, subject, sans) "
    "VALUES (new.id, new.subject, new.sans); END",
    "INSERT INTO certificates_search(certificates_search) VALUES ('rebuild')",
)

_SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS certificates_search_update",
    "DROP TRIGGER IF EXISTS certificates_search_delete",
    "DROP TRIGGER IF EXISTS certificates_search_insert",
    "DROP TABLE IF EXISTS certificates_search",
)

_PG_COLUMNS = ("subject", "sans")


def _sqlite_has_fts5(connection: sa.Connection) -> bool:
    return bool(
        connection.exec_driver_sql(
            "SELECT 1 FROM pragma_compile_options WHERE compile_options = 'ENABLE_FTS5'"
        ).first()
    )


def _pg_trgm_schema(connection: sa.Connection) -> str | None:
    schema: str | None = connection.scalar(
        sa.text(
            "SELECT n.nspname FROM pg_extension e "
            "JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'"
        )
    )
    return schema


def _upgrade_postgresql(connection: sa.Connection) -> None:
    schema = _pg_trgm_schema(connection)
    if schema is None:
        try:
            # A savepoint: a refused CREATE EXTENSION must not end the migration's transaction.
            with connection.begin_nested():
                connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except sa.exc.DBAPIError as exc:
            _log.warning(
                "certificate_search_index_skipped",
                reason=str(exc.orig).splitlines()[0]
                if exc.orig is not None
                else type(exc).__name__,
                effect="certificate searches scan the table",
            )
            return
        schema = _pg_trgm_schema(connection)
    assert schema is not None
    # The operator class is named with its schema: the extension may sit outside search_path.
    opclass = f"{connection.dialect.identifier_preparer.quote_identifier(schema)}.gin_trgm_ops"
    for column in _PG_COLUMNS:
        connection.exec_driver_sql(
            f"CREATE INDEX ix_certificates_search_{column} ON certificates "
            f"USING gin (lower({column}) {opclass})"
        )


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        if not _sqlite_has_fts5(connection):
            _log.warning(
                "certificate_search_index_skipped",
                reason="this SQLite has no FTS5",
                effect="certificate searches scan the table",
            )
            return
        for statement in _SQLITE_UP:
            connection.exec_driver_sql(statement)
    elif connection.dialect.name == "postgresql":
        _upgrade_postgresql(connection)


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        for statement in _SQLITE_DOWN:
            connection.exec_driver_sql(statement)
    elif connection.dialect.name == "postgresql":
        for column in _PG_COLUMNS:
            connection.exec_driver_sql(f"DROP INDEX IF EXISTS ix_certificates_search_{column}")
