"""Master key rotation: every secret re-wrapped, old keys retired, nothing lost on a crash."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from certward.ca.context import CAContext
from certward.ca.factory import certificate_key_record_id
from certward.crypto.keys import load_private_key
from certward.datadir import open_data_dir
from certward.keystore.envelope import parse_envelope
from certward.store.models import CertificateRow
from tests.support.pki import PKI


def _sealed_key_ids(ctx: CAContext) -> set[int]:
    with ctx.database.read() as session:
        rows = session.execute(
            select(CertificateRow.serial, CertificateRow.key_sealed).where(
                CertificateRow.key_sealed.is_not(None)
            )
        ).all()
    return {
        parse_envelope(blob, record_id=certificate_key_record_id(serial)).master_key_id
        for serial, blob in rows
    }


def test_rotation_rewraps_every_secret_and_retires_the_old_key(
    pki: PKI, ca_context: CAContext, data_dir: Path
) -> None:
    from certward.rekey import rotate_master_key

    before = pki.issue_client("before-rotation")
    old_ids = ca_context.keystore.key_ids

    report = rotate_master_key(ca_context)

    assert report.retired_key_ids == old_ids
    assert ca_context.keystore.key_ids == (report.new_key_id,)
    assert _sealed_key_ids(ca_context) == {report.new_key_id}
    with ca_context.database.read() as session:
        blob = session.scalar(
            select(CertificateRow.key_sealed).where(CertificateRow.serial == before.serial)
        )
    assert blob is not None
    reopened = load_private_key(
        ca_context.keystore.open(blob, record_id=certificate_key_record_id(before.serial))
    )
    assert before.private_key is not None
    assert reopened.public_key() == before.private_key.public_key()


def test_data_dir_reopens_and_issues_after_rotation(
    pki: PKI, ca_context: CAContext, data_dir: Path
) -> None:
    from certward.rekey import rotate_master_key

    rotate_master_key(ca_context)

    reopened = open_data_dir(data_dir, database=ca_context.database.url)
    issued = PKI(reopened).issue_server("after-rotation.example")
    assert issued.certificate.issuer == pki.issue_client().certificate.issuer
    reopened.database.dispose()


def test_crash_after_adding_the_new_key_loses_nothing(
    pki: PKI, ca_context: CAContext, data_dir: Path
) -> None:
    from certward.rekey import rotate_master_key

    old = pki.issue_client("sealed-under-old-key")
    ca_context.keystore.add_master_key()  # step 1 done, then the process "dies"

    survivor = open_data_dir(data_dir, database=ca_context.database.url)
    assert len(survivor.keystore.key_ids) == 2
    PKI(survivor).issue_client("issued-after-crash")
    report = rotate_master_key(survivor)  # running it again finishes the job

    assert _sealed_key_ids(survivor) == {report.new_key_id}
    with survivor.database.read() as session:
        blob = session.scalar(
            select(CertificateRow.key_sealed).where(CertificateRow.serial == old.serial)
        )
    assert blob is not None
    survivor.keystore.open(blob, record_id=certificate_key_record_id(old.serial))
    survivor.database.dispose()
