"""The KDS master key set: 64 random bytes per key, named by the millisecond of its creation.

Keys live sealed in ``kds_master_keys`` (one envelope per key, bound to its
timestamp), shared by every node on the database. The **current** key is the
second-newest (the newest is held back one period so every node has it before
anyone hands it out); with a single key, that one.

A running node keeps the opened set in memory (:class:`MasterKeySet`): a key
request reads an immutable :class:`MasterKeyRing` and never the database. The
node polls a cheap fingerprint of the table (count, oldest, newest) at least
once a second and reopens the set when it changed.

Export and import (JSON ``[{"timestamp": ms, "key": base64}, ...]``) move keys
between installations and from a Limax deployment; both are audited.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import delete, func, select

from certward.access.audit import AUDIT_TABLE, audit_row, log_event, record_event
from certward.ca.context import CAContext
from certward.ca.group_commit import TableRow
from certward.errors import (
    CertwardError,
    Conflict,
    DecryptionFailed,
    InvalidInput,
    MalformedData,
    ServiceUnavailable,
)
from certward.kds.derive import DEFAULT_ALGORITHM, MasterKeyDigester
from certward.kds.ident import CURRENT_TIMESTAMP
from certward.kds.records import master_key_record_id
from certward.store.models import KdsMasterKeyRow

__all__ = [
    "MASTER_KEY_BYTES",
    "ImportReport",
    "MasterKeyInfo",
    "MasterKeyRing",
    "MasterKeySet",
    "current_timestamp",
    "expire_master_keys",
    "export_master_keys",
    "import_master_keys",
    "list_master_keys",
    "now_ms",
    "publish_master_key",
]

_log = structlog.get_logger()
MASTER_KEY_BYTES = 64
_MS_PER_DAY = 86_400_000
# Larger than any export of a real deployment (a key a minute for a year is ~50 MB).
_MAX_IMPORT_BYTES = 64 * 1024 * 1024


def now_ms() -> int:
    """The current time in milliseconds since the epoch (a master key's name)."""
    return time.time_ns() // 1_000_000


def current_timestamp(timestamps: Sequence[int]) -> int | None:
    """The current key of a set: the second-newest of ``timestamps`` (sorted), else the only one."""
    if not timestamps:
        return None
    return timestamps[-2] if len(timestamps) >= 2 else timestamps[-1]


@dataclass(frozen=True)
class MasterKeyInfo:
    """A stored master key without its bytes (for status and listings)."""

    timestamp: int
    created_at: datetime
    created_by: str | None


@dataclass(frozen=True)
class ImportReport:
    """What an import did: keys added and keys that were already there with the same bytes."""

    added: tuple[int, ...]
    unchanged: tuple[int, ...]


# -- the in-memory set ---------------------------------------------------------------------


@dataclass(frozen=True)
class MasterKeyRing:
    """The opened master keys of one moment, ready to derive with (never logged)."""

    digesters: Mapping[int, MasterKeyDigester] = field(repr=False)
    timestamps: tuple[int, ...]
    state: tuple[int, int | None, int | None]

    @property
    def current(self) -> MasterKeyDigester | None:
        """The digester of the current key, None while the set is empty."""
        timestamp = current_timestamp(self.timestamps)
        return None if timestamp is None else self.digesters[timestamp]

    def for_request(self, timestamp: int) -> MasterKeyDigester:
        """The key a request names; the current key for -1 or an unknown timestamp.

        Raises ServiceUnavailable while no master key exists yet.
        """
        if timestamp != CURRENT_TIMESTAMP:
            found = self.digesters.get(timestamp)
            if found is not None:
                return found
        current = self.current
        if current is None:
            raise ServiceUnavailable("the KDS has no master key yet; the publisher creates one")
        return current


_EMPTY_STATE: tuple[int, int | None, int | None] = (0, None, None)


class MasterKeySet:
    """This process's opened copy of the master key set, refreshed when the table changes.

    ``ring`` is replaced as a whole, so readers (the request path) need no lock.
    """

    def __init__(self, ctx: CAContext, *, algorithm: str = DEFAULT_ALGORITHM) -> None:
        self._ctx = ctx
        self._algorithm = algorithm
        self._lock = threading.Lock()
        self.ring = MasterKeyRing(digesters={}, timestamps=(), state=_EMPTY_STATE)

    def _state(self) -> tuple[int, int | None, int | None]:
        with self._ctx.database.read() as session:
            row = session.execute(
                select(
                    func.count(KdsMasterKeyRow.timestamp),
                    func.min(KdsMasterKeyRow.timestamp),
                    func.max(KdsMasterKeyRow.timestamp),
                )
            ).one()
        return int(row[0]), row[1], row[2]

    def refresh(self, *, force: bool = False) -> bool:
        """Reopen the set if the table changed (one cheap query otherwise); True if reloaded."""
        with self._lock:
            state = self._state()
            if state == self.ring.state and not force:
                return False
            self.ring = self._load()
            _log.info(
                "kds.master_keys_loaded",
                count=len(self.ring.timestamps),
                current=current_timestamp(self.ring.timestamps),
            )
            return True

    def _load(self) -> MasterKeyRing:
        with self._ctx.database.read() as session:
            rows = session.execute(
                select(KdsMasterKeyRow.timestamp, KdsMasterKeyRow.key_sealed).order_by(
                    KdsMasterKeyRow.timestamp
                )
            ).all()
        try:
            keys = _open_all(self._ctx, rows)
        except DecryptionFailed:
            # Another process may have rotated the keystore since it was loaded here.
            self._ctx.keystore.reload()
            keys = _open_all(self._ctx, rows)
        digesters = {
            timestamp: MasterKeyDigester(
                timestamp=timestamp, master_key=key, algorithm=self._algorithm
            )
            for timestamp, key in keys.items()
        }
        timestamps = tuple(sorted(digesters))
        state = (len(timestamps), timestamps[0], timestamps[-1]) if timestamps else _EMPTY_STATE
        return MasterKeyRing(digesters=digesters, timestamps=timestamps, state=state)


def _open_all(ctx: CAContext, rows: Sequence[Any]) -> dict[int, bytes]:
    return {
        int(timestamp): ctx.keystore.open(sealed, record_id=master_key_record_id(timestamp))
        for timestamp, sealed in rows
    }


# -- services on the database ---------------------------------------------------------------


def list_master_keys(ctx: CAContext) -> list[MasterKeyInfo]:
    """Every stored master key, oldest first (timestamps and origin only)."""
    with ctx.database.read() as session:
        rows = session.scalars(select(KdsMasterKeyRow).order_by(KdsMasterKeyRow.timestamp)).all()
        return [MasterKeyInfo(row.timestamp, row.created_at, row.created_by) for row in rows]


def publish_master_key(
    ctx: CAContext,
    *,
    created_by: str,
    clock_ms: Callable[[], int] = now_ms,
    audit_principal: str | None = None,
) -> int:
    """Store a new master key (64 random bytes) named by the current millisecond.

    The name is kept strictly after the newest key, so a clock that stepped back
    never makes a new key older than the current one. ``audit_principal``: record
    the publication as that principal's action (``certward kds publish-now``).
    Returns the new key's timestamp.
    """
    key = secrets.token_bytes(MASTER_KEY_BYTES)
    with ctx.database.transaction() as session:
        newest = session.scalar(select(func.max(KdsMasterKeyRow.timestamp)))
        timestamp = clock_ms()
        if newest is not None and timestamp <= newest:
            timestamp = newest + 1
        session.add(
            KdsMasterKeyRow(
                timestamp=timestamp,
                key_sealed=ctx.keystore.seal(key, record_id=master_key_record_id(timestamp)),
                created_at=ctx.clock(),
                created_by=created_by,
            )
        )
        audit = None
        if audit_principal is not None:
            audit = _audit(ctx, audit_principal, "kds.publish_master_key", str(timestamp), {})
            session.execute(AUDIT_TABLE.insert(), [audit[1]])
    if audit is not None:
        log_event(audit)
    _log.info("kds.master_key_published", master_key=timestamp, created_by=created_by)
    return timestamp


def expire_master_keys(
    ctx: CAContext, *, lifespan_days: float, clock_ms: Callable[[], int] = now_ms
) -> list[int]:
    """Delete every master key older than ``lifespan_days``; the timestamps deleted."""
    cutoff = clock_ms() - int(lifespan_days * _MS_PER_DAY)
    with ctx.database.transaction() as session:
        gone = list(
            session.scalars(
                select(KdsMasterKeyRow.timestamp).where(KdsMasterKeyRow.timestamp < cutoff)
            )
        )
        if gone:
            session.execute(delete(KdsMasterKeyRow).where(KdsMasterKeyRow.timestamp < cutoff))
    if gone:
        _log.info("kds.master_keys_expired", master_keys=gone, lifespan_days=lifespan_days)
    return gone


def export_master_keys(ctx: CAContext, *, principal: str) -> bytes:
    """Every master key as JSON ``[{"timestamp": ms, "key": base64}, ...]`` (audited).

    The result holds every key in clear: write it 0600 and keep it like the keystore.
    """
    with ctx.database.read() as session:
        rows = session.execute(
            select(KdsMasterKeyRow.timestamp, KdsMasterKeyRow.key_sealed).order_by(
                KdsMasterKeyRow.timestamp
            )
        ).all()
    keys = _open_all(ctx, rows)
    document = [
        {"timestamp": timestamp, "key": base64.b64encode(key).decode("ascii")}
        for timestamp, key in keys.items()
    ]
    record_event(
        ctx,
        principal=principal,
        action="kds.export_master_keys",
        target=None,
        result="ok",
        request_id=None,
        details={"count": len(document)},
    )
    return (json.dumps(document, indent=2) + "\n").encode("ascii")


def import_master_keys(ctx: CAContext, data: bytes, *, principal: str) -> ImportReport:
    """Add the keys of an export (or a Limax key set) to the set, in one transaction (audited).

    Each entry needs an integer ``timestamp`` (milliseconds, not negative) and a
    base64 ``key`` of 64 bytes. A timestamp already stored with the same bytes
    is left as it is; with other bytes the whole import is refused (Conflict),
    as is a file that names one timestamp twice with different bytes.
    """
    try:
        entries = _parse_import(data)
        report = _store_import(ctx, entries, principal=principal)
    except CertwardError as exc:
        record_event(
            ctx,
            principal=principal,
            action="kds.import_master_keys",
            target=None,
            result=exc.code,
            request_id=None,
        )
        raise
    return report


def _parse_import(data: bytes) -> dict[int, bytes]:
    if len(data) > _MAX_IMPORT_BYTES:
        raise InvalidInput(f"master key file larger than {_MAX_IMPORT_BYTES} bytes")
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise MalformedData(
            'master key file is not JSON (expected [{"timestamp": ms, "key": base64}, ...])'
        ) from None
    if not isinstance(document, list):
        raise MalformedData('master key file must hold a JSON list of {"timestamp", "key"}')
    entries: dict[int, bytes] = {}
    for index, entry in enumerate(document):
        where = f"entry {index}"
        if not isinstance(entry, dict) or set(entry) != {"timestamp", "key"}:
            raise MalformedData(f'{where}: expected exactly the fields "timestamp" and "key"')
        timestamp = entry["timestamp"]
        if not isinstance(timestamp, int) or isinstance(timestamp, bool) or timestamp < 0:
            raise MalformedData(f"{where}: timestamp must be a non-negative integer (ms)")
        if timestamp >= 2**63:
            raise MalformedData(f"{where}: timestamp does not fit a 64-bit long")
        encoded = entry["key"]
        if not isinstance(encoded, str):
            raise MalformedData(f"{where}: key must be a base64 string")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedData(f"{where}: key is not valid base64") from None
        if len(key) != MASTER_KEY_BYTES:
            raise MalformedData(
                f"{where}: key has {len(key)} bytes; a master key has {MASTER_KEY_BYTES}"
            )
        seen = entries.get(timestamp)
        if seen is not None and not hmac.compare_digest(seen, key):
            raise Conflict(f"the file names master key {timestamp} twice with different bytes")
        entries[timestamp] = key
    return entries


def _store_import(ctx: CAContext, entries: dict[int, bytes], *, principal: str) -> ImportReport:
    added: list[int] = []
    unchanged: list[int] = []
    with ctx.database.transaction() as session:
        stored = {
            int(timestamp): sealed
            for timestamp, sealed in session.execute(
                select(KdsMasterKeyRow.timestamp, KdsMasterKeyRow.key_sealed).where(
                    KdsMasterKeyRow.timestamp.in_(list(entries))
                )
            )
        }
        for timestamp in sorted(entries):
            key = entries[timestamp]
            sealed = stored.get(timestamp)
            if sealed is not None:
                existing = ctx.keystore.open(sealed, record_id=master_key_record_id(timestamp))
                if not hmac.compare_digest(existing, key):
                    raise Conflict(f"master key {timestamp} is already stored with different bytes")
                unchanged.append(timestamp)
                continue
            session.add(
                KdsMasterKeyRow(
                    timestamp=timestamp,
                    key_sealed=ctx.keystore.seal(key, record_id=master_key_record_id(timestamp)),
                    created_at=ctx.clock(),
                    created_by=f"import:{principal}"[:128],
                )
            )
            added.append(timestamp)
        audit = _audit(
            ctx,
            principal,
            "kds.import_master_keys",
            None,
            {"added": len(added), "unchanged": len(unchanged)},
        )
        session.execute(AUDIT_TABLE.insert(), [audit[1]])
    log_event(audit)
    return ImportReport(added=tuple(added), unchanged=tuple(unchanged))


def _audit(
    ctx: CAContext, principal: str, action: str, target: str | None, details: dict[str, Any]
) -> TableRow:
    return audit_row(
        ctx,
        principal=principal,
        action=action,
        target=target,
        result="ok",
        request_id=None,
        details=details,
    )
