"""KDS nodes on one database: who is there, who is alive, and who publishes master keys.

Each node registers itself in ``kds_nodes`` (host, port, the raw IP clients can
reach it at) and writes a heartbeat every ``heartbeat_seconds``. A node is live
while its heartbeat is younger than three periods; each node answers clients with
the addresses of the live others ("random servers", Limax's failover list).

Exactly one node publishes master keys. On PostgreSQL the publisher holds a
session advisory lock on a dedicated connection for as long as it lives: when
the process dies its session ends, the lock is free, and the next node that
tries takes it over. On SQLite (one machine) an exclusive ``flock`` on a file
beside the database plays the same part. Only nodes with a publish period try.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import structlog
from sqlalchemy import Connection, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from certward.ca.context import CAContext
from certward.errors import ConfigError
from certward.store.database import Database
from certward.store.models import KdsNodeRow

__all__ = [
    "LIVE_PERIODS",
    "NodeInfo",
    "PublisherElection",
    "address_of",
    "heartbeat",
    "list_nodes",
    "node_id_for",
    "random_servers",
    "register_node",
    "unregister_node",
]

_log = structlog.get_logger()
LIVE_PERIODS = 3
# The first key of pg_try_advisory_lock(int, int) ("KDSP"); the second is the schema's hash,
# so certward installations in different schemas of one database elect independently.
_LOCK_CLASS = 0x4B445350


@dataclass(frozen=True)
class NodeInfo:
    """One registered node as seen now."""

    node_id: str
    host: str
    port: int
    address: bytes
    started_at: datetime
    heartbeat_at: datetime
    publisher: bool
    live: bool

    @property
    def address_text(self) -> str:
        """The raw address as text (``127.0.0.1``, ``::1``)."""
        return str(ipaddress.ip_address(self.address))


def _now() -> datetime:
    # Sub-second precision: with short heartbeats, whole seconds would make nodes flicker.
    return datetime.now(UTC)


def address_of(host: str) -> bytes:
    """The raw 4- or 16-byte IP clients reach a node listening on ``host`` at.

    A literal address is used as is; a wildcard (``0.0.0.0``, ``::``) becomes the
    address of the interface that routes outwards; a name is resolved (first result).
    """
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise ConfigError(f"cannot resolve KDS host {host!r}: {exc.strerror}") from None
        literal = ipaddress.ip_address(infos[0][4][0])
    if literal.is_unspecified:
        literal = _outward_address(literal.version)
    return literal.packed


def _outward_address(version: int) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    probe = "192.0.2.1" if version == 4 else "2001:db8::1"  # documentation ranges, never sent
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((probe, 9))  # UDP connect sends nothing; it only picks a route
            return ipaddress.ip_address(sock.getsockname()[0])
    except OSError:
        return ipaddress.ip_address("127.0.0.1" if version == 4 else "::1")


def node_id_for(address: bytes, port: int) -> str:
    """A node's stable name: host name, address and port (one listener per address and port)."""
    return f"{socket.gethostname()}/{ipaddress.ip_address(address)}:{port}"[:128]


def register_node(
    ctx: CAContext, *, node_id: str, host: str, port: int, address: bytes
) -> NodeInfo:
    """Record this node (again after a restart) with a fresh heartbeat, not publishing yet."""
    now = _now()
    with ctx.database.transaction() as session:
        row = session.scalar(select(KdsNodeRow).where(KdsNodeRow.node_id == node_id))
        if row is None:
            row = KdsNodeRow(node_id=node_id)
            session.add(row)
        row.host = host
        row.port = port
        row.address = address
        row.started_at = now
        row.heartbeat_at = now
        row.publisher = False
    _log.info("kds.node_registered", node_id=node_id, host=host, port=port)
    return NodeInfo(node_id, host, port, address, now, now, False, True)


def heartbeat(ctx: CAContext, node_id: str, *, publisher: bool) -> bool:
    """Say this node is alive (and whether it publishes) now; False if it is not registered."""
    with ctx.database.transaction() as session:
        row = session.scalar(select(KdsNodeRow).where(KdsNodeRow.node_id == node_id))
        if row is None:
            return False
        row.heartbeat_at = _now()
        row.publisher = publisher
    return True


def unregister_node(ctx: CAContext, node_id: str) -> None:
    """Remove this node from the registry (clean shutdown)."""
    with ctx.database.transaction() as session:
        row = session.scalar(select(KdsNodeRow).where(KdsNodeRow.node_id == node_id))
        if row is not None:
            session.delete(row)


def list_nodes(ctx: CAContext, *, heartbeat_seconds: float) -> list[NodeInfo]:
    """Every registered node, live ones first; live = heartbeat within three periods."""
    now = _now()
    horizon = now - timedelta(seconds=LIVE_PERIODS * heartbeat_seconds)
    with ctx.database.read() as session:
        rows = session.scalars(select(KdsNodeRow).order_by(KdsNodeRow.node_id)).all()
        nodes = [
            NodeInfo(
                node_id=row.node_id,
                host=row.host,
                port=row.port,
                address=row.address,
                started_at=row.started_at,
                heartbeat_at=row.heartbeat_at,
                publisher=row.publisher,
                live=row.heartbeat_at >= horizon,
            )
            for row in rows
        ]
    return sorted(nodes, key=lambda node: not node.live)


def random_servers(
    nodes: Sequence[NodeInfo], *, own_node_id: str, extra: Sequence[bytes] = ()
) -> tuple[bytes, ...]:
    """The addresses a node hands its clients: every live other node, then ``extra``; no repeats."""
    seen: dict[bytes, None] = {}
    for node in nodes:
        if node.live and node.node_id != own_node_id and len(node.address) in (4, 16):
            seen.setdefault(node.address, None)
    for address in extra:
        seen.setdefault(address, None)
    return tuple(seen)


class PublisherElection:
    """Held by at most one node of a database at a time; released when the holder dies.

    :meth:`try_acquire` is cheap to call again and again: it returns True while
    this node holds the election, re-checking that the lock's session is alive.
    """

    def __init__(self, database: Database) -> None:
        self._database = database
        self._connection: Connection | None = None
        self._lock_file: IO[bytes] | None = None

    @property
    def held(self) -> bool:
        """True while this node is the publisher."""
        return self._connection is not None or self._lock_file is not None

    def try_acquire(self) -> bool:
        """Become (or stay) the publisher if nobody else is; True when this node publishes."""
        if self._database.is_sqlite:
            return self._try_file_lock()
        return self._try_advisory_lock()

    def _try_advisory_lock(self) -> bool:
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT 1"))
                self._connection.commit()
                return True
            except SQLAlchemyError:
                _log.warning("kds.publisher_lock_lost")
                self._drop_connection()
        try:
            connection = self._database.engine.connect()
        except SQLAlchemyError as exc:
            _log.warning("kds.publisher_election_failed", error=type(exc).__name__)
            return False
        try:
            got = connection.scalar(
                text("SELECT pg_try_advisory_lock(:cls, hashtext(current_schema()))"),
                {"cls": _LOCK_CLASS},
            )
            connection.commit()  # a session lock outlives the transaction
        except SQLAlchemyError as exc:
            _log.warning("kds.publisher_election_failed", error=type(exc).__name__)
            connection.close()
            return False
        if not got:
            connection.close()
            return False
        self._connection = connection
        _log.info("kds.publisher_elected")
        return True

    def _lock_path(self) -> Path:
        database = make_url(self._database.url).database or "certward.db"
        return Path(f"{database}.kds-publisher.lock")

    def _try_file_lock(self) -> bool:
        if self._lock_file is not None:
            return True
        path = self._lock_path()
        handle = path.open("ab")
        with contextlib.suppress(OSError):
            os.chmod(path, 0o600)
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._lock_file = handle
        _log.info("kds.publisher_elected", lock=str(path))
        return True

    def _drop_connection(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._connection.invalidate()
            with contextlib.suppress(SQLAlchemyError):
                self._connection.close()
            self._connection = None

    def release(self) -> None:
        """Give the election up (clean shutdown)."""
        if self._connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                self._connection.execute(
                    text("SELECT pg_advisory_unlock(:cls, hashtext(current_schema()))"),
                    {"cls": _LOCK_CLASS},
                )
                self._connection.commit()
            with contextlib.suppress(SQLAlchemyError):
                self._connection.close()
            self._connection = None
        if self._lock_file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None
