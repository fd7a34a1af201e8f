"""A consistent snapshot of a certward database as a stream of records, and loading it back.

The snapshot is taken in one read transaction (a WAL snapshot on SQLite,
REPEATABLE READ on PostgreSQL), so it is consistent while the service keeps
writing. Rows are stored as the database holds them (naive UTC times, raw
bytes), table by table in foreign-key order, so a snapshot of SQLite loads into
PostgreSQL and the other way round.

Records are JSON lines::

    {"kind": "table", "name": T, "columns": [...]}
    {"kind": "rows", "table": T, "rows": [[...], ...]}      (batches)

Bytes are ``{"$b": base64}``, times ``{"$t": ISO 8601}``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, MetaData, Table, func, select, text

from certward.errors import MalformedData
from certward.store.models import Base, is_search_index

__all__ = ["ROW_BATCH", "decode_record", "dump_tables", "encode_record", "load_tables"]

ROW_BATCH = 500
_SKIPPED = {"alembic_version"}


def _encode_value(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, datetime):
        return {"$t": value.isoformat()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if "$b" in value:
            return base64.b64decode(value["$b"], validate=True)
        if "$t" in value:
            return datetime.fromisoformat(value["$t"])
        raise MalformedData("the backup holds a value of unknown type")
    return value


def encode_record(record: dict[str, Any]) -> bytes:
    """One record as a JSON line."""
    return json.dumps(record, separators=(",", ":")).encode() + b"\n"


def decode_record(line: bytes) -> dict[str, Any]:
    """A record from its JSON line; MalformedData for anything else."""
    try:
        record = json.loads(line)
    except ValueError:
        raise MalformedData("the backup payload holds a line that is not JSON") from None
    if not isinstance(record, dict) or not isinstance(record.get("kind"), str):
        raise MalformedData("the backup payload holds a record without a kind")
    return record


def _reflected(connection: Connection) -> MetaData:
    """The tables of the connected database, less the certificate search index.

    The index (SQLite's FTS5 table and its shadow tables) is derived data: the
    restore's triggers and migration rebuild it from the certificate rows.
    """
    reflected = MetaData()
    reflected.reflect(bind=connection, only=lambda name, _: not is_search_index(name))
    return reflected


def _ordered_tables(connection: Connection) -> list[Table]:
    """Every certward table of the connected database, parents before children."""
    reflected = _reflected(connection)
    names = [t.name for t in Base.metadata.sorted_tables if t.name in reflected.tables]
    names += sorted(set(reflected.tables) - set(names) - _SKIPPED)
    return [reflected.tables[name] for name in names]


def dump_tables(connection: Connection, counts: dict[str, int]) -> Iterator[dict[str, Any]]:
    """The records of every table, read in the connection's (snapshot) transaction."""
    for table in _ordered_tables(connection):
        columns = [column.name for column in table.columns]
        yield {"kind": "table", "name": table.name, "columns": columns}
        order = [column for column in table.primary_key.columns] or list(table.columns)
        result = connection.execution_options(yield_per=ROW_BATCH).execute(
            select(table).order_by(*order)
        )
        total = 0
        for partition in result.partitions(ROW_BATCH):
            rows = [[_encode_value(value) for value in row] for row in partition]
            total += len(rows)
            yield {"kind": "rows", "table": table.name, "rows": rows}
        counts[table.name] = total


def load_tables(connection: Connection, records: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Insert the rows of ``records`` into the (empty) tables of ``connection``.

    Returns the row count per table. Runs in the caller's transaction.
    """
    tables = {table.name: table for table in _ordered_tables(connection)}
    current: Table | None = None
    columns: list[str] = []
    counts: dict[str, int] = {}
    for record in records:
        kind = record["kind"]
        if kind == "table":
            name = record.get("name")
            if name not in tables:
                raise MalformedData(f"the backup holds table {name!r}, unknown to this schema")
            current = tables[name]
            columns = list(record.get("columns", []))
            missing = set(columns) - set(current.columns.keys())
            if missing:
                raise MalformedData(
                    f"the backup's table {name} has columns this schema lacks: "
                    f"{', '.join(sorted(missing))}"
                )
            counts[current.name] = 0
        elif kind == "rows":
            if current is None or record.get("table") != current.name:
                raise MalformedData("the backup holds rows outside their table")
            rows = [
                dict(zip(columns, (_decode_value(v) for v in row), strict=True))
                for row in record["rows"]
            ]
            if rows:
                connection.execute(current.insert(), rows)
            counts[current.name] += len(rows)
        else:
            raise MalformedData(f"the backup holds an unknown record kind {kind!r}")
    if connection.dialect.name == "postgresql":
        _reset_sequences(connection, tables.values())
    return counts


def _reset_sequences(connection: Connection, tables: Iterable[Table]) -> None:
    """Move PostgreSQL's id sequences past the ids just loaded."""
    for table in tables:
        keys = list(table.primary_key.columns)
        if len(keys) != 1:
            continue
        column = keys[0].name
        sequence = connection.scalar(
            text("SELECT pg_get_serial_sequence(:table, :column)"),
            {"table": table.name, "column": column},
        )
        if sequence is None:
            continue
        highest = connection.scalar(select(func.max(table.c[column])))
        connection.execute(
            text("SELECT setval(:sequence, :value, :called)"),
            {"sequence": sequence, "value": highest or 1, "called": highest is not None},
        )


def table_is_empty_database(connection: Connection) -> bool:
    """True when the connected database holds no certward table yet."""
    reflected = _reflected(connection)
    return not (set(reflected.tables) & ({t.name for t in Base.metadata.sorted_tables} | _SKIPPED))
