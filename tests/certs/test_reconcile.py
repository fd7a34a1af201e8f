"""At start every slot's files are checked against the database and republished if out of step."""

from __future__ import annotations

from certward.ca.context import CAContext
from certward.certs.events import EventKind, events_after
from certward.certs.manager import install_certificate, reconcile_slots
from tests.certs.conftest import MakeSlot, directory_state
from tests.certs.factory import TestCA


def test_files_a_crash_left_ahead_of_the_database_are_put_back(
    ca_context: CAContext, make_slot: MakeSlot, ca: TestCA
) -> None:
    spec = make_slot("server/https")
    install_certificate(ca_context, "server/https", ca.issue().bundle_pem, actor="t")
    committed = directory_state(spec.directory)
    # What a crash between the file swap and the commit leaves: new files, old records.
    (spec.directory / "cert.pem").chmod(0o600)
    (spec.directory / "cert.pem").write_bytes(ca.issue("uncommitted").chain_pem)
    (spec.directory / "key.pem").unlink()
    (spec.directory / ".certward-cert.pem-0000.tmp").write_bytes(b"half written")

    repairs = reconcile_slots(ca_context)

    assert [(r.slot, r.outcome) for r in repairs] == [("server/https", "republished")]
    assert directory_state(spec.directory) == committed


def test_slots_in_step_are_left_alone(
    ca_context: CAContext, make_slot: MakeSlot, ca: TestCA
) -> None:
    make_slot("authority/truststore")
    install_certificate(ca_context, "authority/truststore", ca.cert_pem, actor="t")

    assert [r.outcome for r in reconcile_slots(ca_context)] == ["unchanged"]


def test_events_page_in_order(ca_context: CAContext, make_slot: MakeSlot) -> None:
    make_slot("authority/truststore")
    for number in range(3):
        install_certificate(
            ca_context, "authority/truststore", TestCA(f"CA {number}").cert_pem, actor="t"
        )

    first = events_after(ca_context, 0, limit=2)
    rest = events_after(ca_context, first[-1].id, limit=10)

    assert [e.kind for e in first + rest] == [EventKind.INSTALLED] * 3
    assert [e.id for e in first + rest] == sorted({e.id for e in first + rest})
    assert rest[0].details["actor"] == "t"
