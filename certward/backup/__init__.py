"""Online backups of a data dir into one encrypted file, and restoring them into a fresh one.

A backup holds a consistent snapshot of the database, the master key set (the
keystore) and the configuration file, encrypted with a passphrase
(:mod:`certward.backup.archive`). It is taken while the service runs.

Before the archive is finished, every sealed secret in the snapshot is checked
to open under the master keys it carries: a backup that could not be restored
(say, a master key rotation finished between reading the database and reading
the keys) is refused and retaken, never written.

Restoring needs an empty data dir and an empty database (the default SQLite
file, or ``database_url``, e.g. PostgreSQL: a backup of SQLite restores into
PostgreSQL and back). The schema is created at the backup's revision, the rows
loaded and the schema then migrated to this certward's revision, all in one
transaction: a failed restore leaves nothing behind.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, select

import certward
from certward.backup.archive import check_passphrase, read_archive, write_archive
from certward.backup.snapshot import (
    decode_record,
    dump_tables,
    encode_record,
    load_tables,
    table_is_empty_database,
)
from certward.ca.context import CAContext
from certward.ca.publish import republish_all
from certward.config import CONFIG_FILE_NAME
from certward.datadir import DataDir, open_data_dir
from certward.errors import Conflict, KeystoreError, MalformedData, SchemaMismatch
from certward.files import (
    READONLY_SECRET_MODE,
    SECRET_FILE_MODE,
    ensure_private_dir,
    write_atomic,
)
from certward.keystore.envelope import parse_envelope
from certward.keystore.master_key_file import (
    PRIMARY_FILE_NAME,
    STANDBY_FILE_NAME,
    MasterKeySet,
    decode_master_key_file,
    encode_master_key_file,
    load_master_keys,
)
from certward.store.database import Database

__all__ = ["BackupReport", "RestoreReport", "create_backup", "restore_backup"]

_KEYS_FILE = "keys/" + PRIMARY_FILE_NAME
_ATTEMPTS = 3


@dataclass(frozen=True)
class BackupReport:
    """What a backup holds."""

    path: Path
    schema_revision: str
    tables: dict[str, int]
    master_key_ids: tuple[int, ...]
    size_bytes: int


@dataclass(frozen=True)
class RestoreReport:
    """What a restore loaded."""

    data_dir: Path
    database: str
    schema_revision: str
    tables: dict[str, int]


class _KeysChanged(Exception):
    """A master key rotation ran while the snapshot was read."""


def _sealed_key_ids(connection: Connection) -> Iterator[int]:
    """The master key id of every sealed secret in the snapshot."""
    from certward.rekey import SEALED_COLUMNS

    for column in SEALED_COLUMNS:
        rows = connection.execute(
            select(column.blob, column.label).where(column.blob.is_not(None))
        ).all()
        for blob, label in rows:
            yield parse_envelope(blob, record_id=column.record_id(label)).master_key_id


def _payload(
    ctx: CAContext, connection: Connection, key_set: MasterKeySet, counts: dict[str, int]
) -> Iterator[bytes]:
    config = DataDir(ctx.keystore.keys_dir.parent).config_file
    files: list[tuple[str, bytes, int]] = [
        (_KEYS_FILE, encode_master_key_file(key_set), READONLY_SECRET_MODE)
    ]
    if config.exists():
        files.append((CONFIG_FILE_NAME, config.read_bytes(), SECRET_FILE_MODE))
    for path, data, mode in files:
        yield encode_record(
            {"kind": "file", "path": path, "mode": mode, "data": base64.b64encode(data).decode()}
        )
    for record in dump_tables(connection, counts):
        yield encode_record(record)


def _snapshot_connection(database: Database) -> contextlib.AbstractContextManager[Connection]:
    options: dict[str, Any] = {"certward_write": False}
    if not database.is_sqlite:
        options["isolation_level"] = "REPEATABLE READ"
    return database.engine.execution_options(**options).begin()


def create_backup(ctx: CAContext, out: Path, passphrase: bytes) -> BackupReport:
    """Write an encrypted backup of ``ctx``'s data dir to ``out`` (atomically, 0600)."""
    check_passphrase(passphrase)
    ctx.database.check_schema()
    _, head = ctx.database.schema_revisions()
    out = Path(out)
    for _attempt in range(_ATTEMPTS):
        try:
            return _backup_once(ctx, out, passphrase, head)
        except _KeysChanged:
            continue
    raise KeystoreError(
        "the master keys kept changing while the backup was taken; "
        "wait for the key rotation to finish and run the backup again"
    )


def _backup_once(ctx: CAContext, out: Path, passphrase: bytes, head: str) -> BackupReport:
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}"
    counts: dict[str, int] = {}
    try:
        with _snapshot_connection(ctx.database) as connection:
            # The first read fixes the snapshot; the keys are read after it, so any
            # key a sealed secret in the snapshot needs is still in the set (or the
            # check below sees that a rotation retired it meanwhile).
            revision = MigrationContext.configure(connection).get_current_revision()
            if revision != head:
                raise SchemaMismatch(
                    f"the database moved to schema {revision} during the backup; run it again"
                )
            key_set = load_master_keys(ctx.keystore.keys_dir, create=False)
            known = set(key_set.key_ids)
            if any(key_id not in known for key_id in _sealed_key_ids(connection)):
                raise _KeysChanged
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_FILE_MODE)
            with os.fdopen(fd, "wb") as handle:
                write_archive(
                    handle,
                    passphrase,
                    _payload(ctx, connection, key_set, counts),
                    fields={
                        "certward_version": certward.__version__,
                        "schema_revision": head,
                        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                        "source": connection.dialect.name,
                    },
                )
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return BackupReport(
        path=out,
        schema_revision=head,
        tables=counts,
        master_key_ids=key_set.key_ids,
        size_bytes=out.stat().st_size,
    )


def _lines(pieces: Iterator[bytes]) -> Iterator[bytes]:
    buffer = b""
    for piece in pieces:
        buffer += piece
        *lines, buffer = buffer.split(b"\n")
        yield from lines
    if buffer:
        raise MalformedData("the backup payload ends in the middle of a record")


def _check_fresh_dir(layout: DataDir) -> None:
    if layout.root.exists() and any(layout.root.iterdir()):
        raise Conflict(f"{layout.root} is not empty; restore needs a new or empty data dir")


def _restore_file(layout: DataDir, record: dict[str, Any]) -> None:
    path = record.get("path")
    try:
        data = base64.b64decode(record["data"], validate=True)
    except (KeyError, TypeError, ValueError):
        raise MalformedData("the backup holds a damaged file record") from None
    if path == _KEYS_FILE:
        key_set = decode_master_key_file(data)  # checks the checksum
        ensure_private_dir(layout.keys_dir)
        encoded = encode_master_key_file(key_set)
        write_atomic(layout.keys_dir / STANDBY_FILE_NAME, encoded, mode=READONLY_SECRET_MODE)
        write_atomic(layout.keys_dir / PRIMARY_FILE_NAME, encoded, mode=READONLY_SECRET_MODE)
    elif path == CONFIG_FILE_NAME:
        write_atomic(layout.config_file, data, mode=SECRET_FILE_MODE)
    else:
        raise MalformedData(f"the backup holds an unexpected file {path!r}")


def restore_backup(
    archive: Path,
    data_dir: Path,
    passphrase: bytes,
    *,
    database_url: str | None = None,
) -> RestoreReport:
    """Restore ``archive`` into the new data dir ``data_dir`` (and an empty database)."""
    layout = DataDir(Path(data_dir))
    _check_fresh_dir(layout)
    created = not layout.root.exists()
    try:
        with open(archive, "rb") as handle:
            header, payload = read_archive(handle, passphrase)
            revision = str(header.fields.get("schema_revision", ""))
            ensure_private_dir(layout.root)
            records = (decode_record(line) for line in _lines(payload))
            tables = _restore_records(layout, records, revision, database_url)
        layout.published_dir.mkdir(mode=0o755, exist_ok=True)
        overrides = {"database": database_url} if database_url else {}
        ctx = open_data_dir(layout.root, **overrides)  # checks the keys open this database
        try:
            republish_all(ctx)
            url = ctx.database.safe_url
        finally:
            ctx.database.dispose()
    except BaseException:
        if created:
            shutil.rmtree(layout.root, ignore_errors=True)
        else:
            for child in layout.root.iterdir():
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        raise
    return RestoreReport(
        data_dir=layout.root, database=url, schema_revision=revision, tables=tables
    )


def _restore_records(
    layout: DataDir,
    records: Iterator[dict[str, Any]],
    revision: str,
    database_url: str | None,
) -> dict[str, int]:
    # Files come first in the payload: the keys and the config (which may name the database).
    first: dict[str, Any] | None = None
    for record in records:
        if record["kind"] != "file":
            first = record
            break
        _restore_file(layout, record)
    if not (layout.keys_dir / PRIMARY_FILE_NAME).exists():
        raise MalformedData("the backup holds no master keys")
    from certward.config import load_settings

    settings = load_settings(layout.root, database=database_url)
    database = Database(settings.database_url(layout.root))
    try:
        _refuse_unknown_revision(database, revision)
        with database.engine.begin() as connection:
            if not table_is_empty_database(connection):
                raise Conflict(
                    f"database {database.safe_url} already holds certward tables; "
                    "restore needs an empty database"
                )
            database.upgrade(connection, revision)
            rest = records if first is None else _chain(first, records)
            tables = load_tables(connection, rest)
            database.upgrade(connection, "head")
        return tables
    finally:
        database.dispose()


def _chain(first: dict[str, Any], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield first
    yield from rest


def _refuse_unknown_revision(database: Database, revision: str) -> None:
    if not revision or not database.knows_revision(revision):
        raise SchemaMismatch(
            f"the backup's schema revision {revision or '(none)'} is newer than this certward "
            "understands; restore it with the certward version that made it, or a newer one"
        )
