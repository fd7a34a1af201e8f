"""Fixtures of the slot service tests: a data dir (SQLite and PostgreSQL), slots on demand."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from certward.ca.context import CAContext
from certward.certs.slots import SlotSpec, create_slot
from certward.config import SlotSettings
from certward.store.models import CertEventRow, SlotCertificateRow, SlotCRLRow
from tests.certs.factory import TestCA

MakeSlot = Callable[..., SlotSpec]


@pytest.fixture
def make_slot(ca_context: CAContext, tmp_path: Path) -> MakeSlot:
    """``make_slot("server/https", reload={...})``: an API slot whose directory is in tmp_path."""

    def make(name: str, **settings: Any) -> SlotSpec:
        settings.setdefault("directory", str(tmp_path / "slots" / name.replace("/", "-")))
        settings.setdefault("host_name", "bmc.example.test")
        return create_slot(ca_context, name, SlotSettings(**settings), actor="test")

    return make


@pytest.fixture
def ca() -> TestCA:
    """A root CA for the uploads."""
    return TestCA("Slot Test Root")


def directory_state(path: Path) -> dict[str, tuple[str, int, bytes | str]]:
    """Every entry of ``path``: kind, mode and bytes (or link target); {} if absent."""
    state: dict[str, tuple[str, int, bytes | str]] = {}
    if not path.exists():
        return state
    for name in sorted(os.listdir(path)):
        entry = path / name
        info = entry.lstat()
        if stat.S_ISLNK(info.st_mode):
            state[name] = ("link", 0, os.readlink(entry))
        else:
            state[name] = ("file", stat.S_IMODE(info.st_mode), entry.read_bytes())
    return state


def database_state(ctx: CAContext, slot: str) -> tuple[Any, ...]:
    """The slot's rows (certificates with their sealed keys, CRLs) and the event count."""
    with ctx.database.read() as session:
        certificates = [
            (row.cert_id, row.pem, row.key_sealed, row.installed_at)
            for row in session.scalars(
                select(SlotCertificateRow)
                .where(SlotCertificateRow.slot == slot)
                .order_by(SlotCertificateRow.id)
            )
        ]
        crls = [
            (row.file_name, row.der)
            for row in session.scalars(select(SlotCRLRow).where(SlotCRLRow.slot == slot))
        ]
        events = len(session.scalars(select(CertEventRow.id)).all())
    return (certificates, crls, events)
