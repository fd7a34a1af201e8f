"""Removing an API-made slot: its rows go, its files stay, and what may not go is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from certward.ca.context import CAContext
from certward.certs.csr import csr_request_from_fields
from certward.certs.jobs import JobState, submit_csr_job, wait_for_job
from certward.certs.manager import install_certificate
from certward.certs.slot_removal import remove_slot
from certward.certs.slots import get_slot, list_slots
from certward.config import SlotSettings
from certward.errors import SlotInUse, SlotNotAllowed, SlotNotFound
from certward.store.models import CertEventRow, CertSlotRow, SlotCertificateRow, SlotPendingKeyRow
from tests.certs.conftest import MakeSlot
from tests.certs.factory import TestCA

FIELDS = {
    "city": "Austin",
    "common_name": "bmc.example.test",
    "country": "US",
    "organization": "Example",
    "organizational_unit": "Platform",
    "state": "TX",
}


def _count(ctx: CAContext, model: type, slot: str) -> int:
    with ctx.database.read() as session:
        return (
            session.scalar(
                select(func.count()).select_from(model).where(model.slot == slot)  # type: ignore[attr-defined]
            )
            or 0
        )


def test_a_removed_slot_is_forgotten_but_its_files_stay_for_the_service(
    ca_context: CAContext, make_slot: MakeSlot, ca: TestCA
) -> None:
    spec = make_slot("server/web")
    leaf = ca.issue("bmc.example.test")
    install_certificate(ca_context, "server/web", leaf.bundle_pem, actor="t")
    job = submit_csr_job(ca_context, "server/web", csr_request_from_fields(FIELDS), actor="t")
    assert wait_for_job(ca_context, job.id, timeout=60).state is JobState.SUCCEEDED
    files = {path.name: path.read_bytes() for path in spec.directory.iterdir()}

    remove_slot(ca_context, "server/web", actor="t")

    with pytest.raises(SlotNotFound):
        get_slot(ca_context, "server/web")
    assert "server/web" not in [slot.name for slot in list_slots(ca_context)]
    assert _count(ca_context, SlotCertificateRow, "server/web") == 0
    assert _count(ca_context, SlotPendingKeyRow, "server/web") == 0
    assert _count(ca_context, CertEventRow, "server/web") == 1  # the history stays
    assert {path.name: path.read_bytes() for path in spec.directory.iterdir()} == files
    # The name is free again: a new slot of that name starts empty.
    make_slot("server/web")
    assert _count(ca_context, SlotCertificateRow, "server/web") == 0


def test_what_may_not_be_removed_is_refused_and_kept(
    ca_context: CAContext, make_slot: MakeSlot, tmp_path: Path
) -> None:
    make_slot("authority/truststore")
    make_slot("server/https", truststore="authority/truststore")
    ca_context.settings.slots["client/ldap"] = SlotSettings(directory=str(tmp_path / "ldap"))

    with pytest.raises(SlotInUse, match="truststore of server/https"):
        remove_slot(ca_context, "authority/truststore", actor="t")
    with pytest.raises(SlotNotAllowed, match=r"certward\.toml"):
        remove_slot(ca_context, "client/ldap", actor="t")
    with pytest.raises(SlotNotFound):
        remove_slot(ca_context, "server/absent", actor="t")

    with ca_context.database.read() as session:
        stored = set(session.scalars(select(CertSlotRow.name)))
    assert stored == {"authority/truststore", "server/https"}
    remove_slot(ca_context, "server/https", actor="t")
    remove_slot(ca_context, "authority/truststore", actor="t")  # no longer in use
    assert [slot.name for slot in list_slots(ca_context)] == ["client/ldap"]
