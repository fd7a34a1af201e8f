"""The ``certward serve`` processes that share a database: who they are, and who is alive.

Each service process registers itself when it starts (host, pid and port make
its id), refreshes a heartbeat while it runs and removes itself when it stops.
A node whose heartbeat is older than three intervals counts as gone (killed, or
cut off from the database); ``certward status`` shows both kinds.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

import certward
from certward.ca.context import CAContext
from certward.store.models import ServiceNodeRow

__all__ = [
    "HEARTBEAT_SECONDS",
    "NodeInfo",
    "heartbeat",
    "list_nodes",
    "node_id_for",
    "register_node",
    "unregister_node",
]

HEARTBEAT_SECONDS = 5.0
_LIVE_WITHIN = timedelta(seconds=3 * HEARTBEAT_SECONDS)
_FORGET_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class NodeInfo:
    node_id: str
    url: str
    version: str
    started_at: datetime
    heartbeat_at: datetime
    live: bool


def node_id_for(port: int) -> str:
    """This process's node id for a service on ``port``."""
    return f"{socket.gethostname()}:{os.getpid()}:{port}"


def register_node(ctx: CAContext, *, node_id: str, url: str) -> None:
    """Record this node as started now (replacing an earlier entry with the same id)."""
    now = ctx.clock()
    with ctx.database.transaction() as session:
        session.execute(delete(ServiceNodeRow).where(ServiceNodeRow.node_id == node_id))
        # Entries of nodes gone for a day are history, not status.
        session.execute(
            delete(ServiceNodeRow).where(ServiceNodeRow.heartbeat_at < now - _FORGET_AFTER)
        )
        session.add(
            ServiceNodeRow(
                node_id=node_id,
                url=url,
                version=certward.__version__,
                started_at=now,
                heartbeat_at=now,
            )
        )


def heartbeat(ctx: CAContext, *, node_id: str, url: str) -> None:
    """Refresh this node's heartbeat (registering it again if its entry went away)."""
    with ctx.database.transaction() as session:
        changed = session.execute(
            update(ServiceNodeRow)
            .where(ServiceNodeRow.node_id == node_id)
            .values(heartbeat_at=ctx.clock())
        )
        present = getattr(changed, "rowcount", 1)
    if not present:
        register_node(ctx, node_id=node_id, url=url)


def unregister_node(ctx: CAContext, *, node_id: str) -> None:
    """Remove this node's entry (a clean stop)."""
    with ctx.database.transaction() as session:
        session.execute(delete(ServiceNodeRow).where(ServiceNodeRow.node_id == node_id))


def list_nodes(ctx: CAContext) -> list[NodeInfo]:
    """Every registered node, newest heartbeat first, each marked live or not."""
    now = ctx.clock()
    with ctx.database.read() as session:
        rows = session.scalars(
            select(ServiceNodeRow).order_by(ServiceNodeRow.heartbeat_at.desc())
        ).all()
        return [
            NodeInfo(
                node_id=row.node_id,
                url=row.url,
                version=row.version,
                started_at=row.started_at,
                heartbeat_at=row.heartbeat_at,
                live=now - row.heartbeat_at <= _LIVE_WITHIN,
            )
            for row in rows
        ]
