"""Background upkeep: due rotations and expired deletions happen without anyone asking."""

from __future__ import annotations

import threading

from certward.kms.keys import describe_key, list_keys
from certward.kms.lifecycle import schedule_key_deletion
from certward.kms.maintenance import KmsMaintenance, run_maintenance
from certward.kms.specs import KeySpec
from tests.kms.conftest import Keys


def test_one_round_rotates_due_keys_and_purges_expired_ones(kms: Keys) -> None:
    rotating = kms.create(KeySpec.AES_256, rotation_period_days=1)
    doomed = kms.create(KeySpec.AES_256)
    schedule_key_deletion(kms.ctx, doomed.key_id, pending_window_days=7)
    kms.clock.advance(days=7)

    report = run_maintenance(kms.ctx)

    assert (report.rotated, report.purged) == ((rotating.key_id,), (doomed.key_id,))
    assert describe_key(kms.ctx, rotating.key_id).primary_version == 2
    assert [key.key_id for key in list_keys(kms.ctx).items] == [rotating.key_id]


def test_the_thread_runs_rounds_and_reports_what_changed(kms: Keys) -> None:
    key = kms.create(KeySpec.EC_P256, rotation_period_days=1)
    kms.clock.advance(days=1)
    changed = threading.Event()
    upkeep = KmsMaintenance(kms.ctx, interval=0.01, on_change=lambda _: changed.set())

    upkeep.start()
    try:
        assert changed.wait(timeout=30), "no maintenance round rotated the due key"
    finally:
        upkeep.stop()

    assert describe_key(kms.ctx, key.key_id).primary_version == 2
