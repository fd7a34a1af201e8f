"""Removing a slot made through the API: certward stops looking after it.

The slot's rows go (certificates, CRLs, pending CSR keys, expiry notices) in one
transaction under the slot's lock; its history stays (change events, CSR jobs,
audit rows). The files in its directory are left where they are: the service
that reads them keeps running on them, and removing a slot never takes a
certificate away from under it. A slot of ``certward.toml`` is removed there,
and an authority slot that another slot names as its truststore is refused.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from sqlalchemy import delete, select

from certward.ca.context import CAContext
from certward.ca.group_commit import TableRow, insert_rows
from certward.certs.change import lock_slot
from certward.certs.slots import get_slot, list_slots
from certward.errors import SlotInUse, SlotNotAllowed, SlotNotFound
from certward.store.models import (
    CertExpiryNoticeRow,
    CertSlotRow,
    SlotCertificateRow,
    SlotCRLRow,
    SlotPendingKeyRow,
)

__all__ = ["remove_slot"]

_log = structlog.get_logger()


def remove_slot(
    ctx: CAContext, name: str, *, actor: str | None, extra_rows: Sequence[TableRow] = ()
) -> None:
    """Forget the API-made slot ``name``; its files stay on disk (see the module doc)."""
    spec = get_slot(ctx, name)  # SlotNotFound names it
    if spec.source == "config":
        raise SlotNotAllowed(f"slot {name!r} is defined in certward.toml: remove it there")
    users = [other.name for other in list_slots(ctx) if other.truststore == name]
    if users:
        raise SlotInUse(f"slot {name!r} is the truststore of {', '.join(users)}")
    with ctx.database.transaction() as session:
        lock_slot(session, name)
        row = session.scalar(select(CertSlotRow).where(CertSlotRow.name == name))
        if row is None:  # removed meanwhile by another request
            raise SlotNotFound(f"no slot {name!r}")
        for table in (SlotCertificateRow, SlotCRLRow, SlotPendingKeyRow, CertExpiryNoticeRow):
            session.execute(delete(table).where(table.slot == name))
        session.delete(row)
        insert_rows(session, extra_rows)
    _log.info("slot.removed", slot=name, actor=actor, directory=str(spec.directory))
