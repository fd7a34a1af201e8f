"""One change to a slot: records, files and reload succeed together or not at all.

Inside one database transaction (holding the slot's lock): the change edits
the slot's rows and records its event, the slot's files are rendered from the
rows and swapped in, the reload action runs. Any failure rolls the transaction
back and puts the previous files back (then reloads once more, best effort, so
the service returns to them). Only then is the transaction committed. A crash
between the file swap and the commit leaves files ahead of the database; the
start-up check (:mod:`certward.certs.reconcile`) republishes from the database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TypeVar

import structlog
from sqlalchemy import text
from sqlalchemy.orm import Session

from certward.ca.context import CAContext
from certward.ca.group_commit import TableRow, insert_rows
from certward.certs.reload import run_reload
from certward.certs.render import slot_certificate_rows, slot_crl_rows, slot_files_from_rows
from certward.certs.slot_files import DirectorySnapshot, publish_slot_files
from certward.certs.slots import SlotSpec
from certward.errors import CertwardError, FilePermissionError, ReloadFailed

__all__ = ["apply_slot_change", "lock_slot", "publish_from_database"]

_log = structlog.get_logger()
T = TypeVar("T")


def lock_slot(session: Session, slot: str) -> None:
    """Serialise changes to ``slot`` until ``session`` ends.

    PostgreSQL: a transaction-scoped advisory lock. SQLite: a write transaction
    (``BEGIN IMMEDIATE``) excludes the others; it is started here, so the lock is
    held from now on even before the first write.
    """
    if session.get_bind().dialect.name == "postgresql":
        digest = hashlib.sha256(f"certward-slot:{slot}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    else:
        session.execute(text("SELECT 1"))


def publish_from_database(ctx: CAContext, session: Session, spec: SlotSpec) -> DirectorySnapshot:
    """Render the slot's files from its rows in ``session`` and swap them in."""
    files = slot_files_from_rows(
        ctx,
        spec,
        slot_certificate_rows(session, spec.name),
        slot_crl_rows(session, spec.name),
    )
    try:
        return publish_slot_files(spec, files)
    except OSError as exc:
        raise FilePermissionError(
            f"cannot write the files of slot {spec.name} in {spec.directory}: {exc.strerror}"
        ) from None


def apply_slot_change(
    ctx: CAContext,
    spec: SlotSpec,
    change: Callable[[Session], T],
    *,
    label: str,
    extra_rows: Sequence[TableRow] = (),
) -> T:
    """Run ``change`` (rows + event) and publish and reload, all or nothing.

    ``label`` names the change for the reload action (installed, replaced, …).
    """
    snapshot: DirectorySnapshot | None = None
    try:
        with ctx.database.transaction() as session:
            lock_slot(session, spec.name)
            result = change(session)
            insert_rows(session, extra_rows)
            session.flush()
            snapshot = publish_from_database(ctx, session, spec)
            run_reload(spec, change=label)
    except BaseException as exc:
        if snapshot is not None and snapshot.changed:
            _roll_back_files(spec, snapshot, exc)
        raise
    return result


def _roll_back_files(spec: SlotSpec, snapshot: DirectorySnapshot, cause: BaseException) -> None:
    try:
        snapshot.restore()
    except OSError as exc:
        # The database stays unchanged; the start-up check republishes from it.
        _log.error("slot.files_not_restored", slot=spec.name, error=exc.strerror)
    code = cause.code if isinstance(cause, CertwardError) else type(cause).__name__
    _log.warning("slot.change_rolled_back", slot=spec.name, cause=code)
    try:
        run_reload(spec, change="rolled_back")
    except ReloadFailed as exc:
        _log.warning("slot.reload_after_rollback_failed", slot=spec.name, error=exc.message)
