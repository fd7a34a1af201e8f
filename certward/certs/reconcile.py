"""Make every slot's files match the database again (the database is the truth).

Runs at ``serve`` start and whenever the node sees a slot change (its own or
another node's, see ``ServerRuntime``).

A crash between a file swap and its commit, or a hand edit, leaves a slot's
directory out of step with its rows. For each slot the files are rendered from
the rows and compared; a slot that differs is republished and its service
reloaded. Staging files a crash left behind are removed.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from certward.ca.context import CAContext
from certward.certs.change import lock_slot, publish_from_database
from certward.certs.reload import run_reload
from certward.certs.slot_files import remove_stale_temporaries
from certward.certs.slots import list_slots
from certward.errors import CertwardError

__all__ = ["SlotRepair", "reconcile_slots"]

_log = structlog.get_logger()


@dataclass(frozen=True)
class SlotRepair:
    """What the check did to one slot: ``republished``, ``unchanged`` or ``failed`` (a code)."""

    slot: str
    outcome: str


def reconcile_slots(ctx: CAContext) -> list[SlotRepair]:
    """Check every slot against the database, republish (and reload) those out of step.

    A slot that cannot be repaired is reported (and logged), not raised: the
    others are still checked and the service still starts.
    """
    repairs: list[SlotRepair] = []
    for spec in list_slots(ctx):
        try:
            with ctx.database.transaction() as session:
                # Under the slot's lock: only its holder stages files, so what is left
                # over is a crash's, never a running change's.
                lock_slot(session, spec.name)
                remove_stale_temporaries(spec)
                snapshot = publish_from_database(ctx, session, spec)
            outcome = "republished" if snapshot.changed else "unchanged"
            if snapshot.changed:
                run_reload(spec, change="republished")
                _log.warning("slot.republished", slot=spec.name)
        except CertwardError as exc:
            outcome = f"failed:{exc.code}"
            _log.error("slot.republish_failed", slot=spec.name, code=exc.code, error=exc.message)
        repairs.append(SlotRepair(slot=spec.name, outcome=outcome))
    return repairs
