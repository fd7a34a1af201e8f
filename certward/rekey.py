"""Master key rotation across the whole database: new key, every secret re-wrapped, old key gone.

The sequence is the keystore's crash-safe one (see ``certward.keystore.keystore``):

1. add a new primary master key to both key files (old keys kept);
2. in one transaction, re-wrap the data key of every sealed record (the payload
   ciphertext is unchanged) and record the new keystore fingerprint;
3. check that no record still names an old key (a process that had not
   reloaded could have sealed one meanwhile: re-wrap again), then retire the
   old keys from the files.

A crash after 1 or 2 leaves every record openable; running the rotation again
finishes the job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from certward.access.idempotency import answer_record_id
from certward.acme.accounts import eab_record_id
from certward.ca.context import CAContext, ca_key_record_id
from certward.ca.factory import certificate_key_record_id
from certward.certs.pending_keys import pending_key_record_id
from certward.certs.render import slot_key_record_id
from certward.errors import KeystoreError
from certward.kds.records import master_key_record_id
from certward.keystore.envelope import parse_envelope
from certward.kms.records import import_token_record_id, key_material_record_id
from certward.store.models import (
    AcmeEabKeyRow,
    CertificateAuthorityRow,
    CertificateRow,
    IdempotencyRow,
    KdsMasterKeyRow,
    KmsImportTokenRow,
    KmsKeyVersionRow,
    MetaValue,
    SlotCertificateRow,
    SlotPendingKeyRow,
)

__all__ = ["SEALED_COLUMNS", "RotationReport", "rotate_master_key"]

_log = structlog.get_logger()
_MAX_PASSES = 3


@dataclass(frozen=True)
class SealedColumn:
    """A column of sealed blobs and how to name the record each belongs to."""

    key: InstrumentedAttribute[Any]
    blob: InstrumentedAttribute[Any]
    label: InstrumentedAttribute[Any]
    record_id: Callable[[Any], str]


# Every sealed column in the schema; a new one goes here.
SEALED_COLUMNS: tuple[SealedColumn, ...] = (
    SealedColumn(
        CertificateAuthorityRow.id,
        CertificateAuthorityRow.key_sealed,
        CertificateAuthorityRow.name,
        ca_key_record_id,
    ),
    SealedColumn(
        CertificateRow.id,
        CertificateRow.key_sealed,
        CertificateRow.serial,
        certificate_key_record_id,
    ),
    SealedColumn(
        KmsKeyVersionRow.id,
        KmsKeyVersionRow.material_sealed,
        KmsKeyVersionRow.record,
        key_material_record_id,
    ),
    SealedColumn(
        KmsImportTokenRow.id,
        KmsImportTokenRow.wrapping_key_sealed,
        KmsImportTokenRow.token,
        import_token_record_id,
    ),
    SealedColumn(
        AcmeEabKeyRow.id,
        AcmeEabKeyRow.hmac_sealed,
        AcmeEabKeyRow.key_id,
        eab_record_id,
    ),
    SealedColumn(
        SlotCertificateRow.id,
        SlotCertificateRow.key_sealed,
        SlotCertificateRow.key_record,
        slot_key_record_id,
    ),
    SealedColumn(
        SlotPendingKeyRow.id,
        SlotPendingKeyRow.key_sealed,
        SlotPendingKeyRow.record,
        pending_key_record_id,
    ),
    SealedColumn(
        IdempotencyRow.id,
        IdempotencyRow.answer_sealed,
        IdempotencyRow.id,
        answer_record_id,
    ),
    SealedColumn(
        KdsMasterKeyRow.timestamp,
        KdsMasterKeyRow.key_sealed,
        KdsMasterKeyRow.timestamp,
        master_key_record_id,
    ),
)


@dataclass(frozen=True)
class RotationReport:
    """What a rotation did."""

    new_key_id: int
    retired_key_ids: tuple[int, ...]
    rewrapped: int
    fingerprint: str


def _rewrap_all(ctx: CAContext, session: Session, primary: int) -> int:
    rewrapped = 0
    for column in SEALED_COLUMNS:
        table = column.key.class_
        rows = session.execute(
            select(column.key, column.blob, column.label).where(column.blob.is_not(None))
        ).all()
        for key, blob, label in rows:
            record_id = column.record_id(label)
            if parse_envelope(blob, record_id=record_id).master_key_id == primary:
                continue
            session.execute(
                update(table)
                .where(column.key == key)
                .values({column.blob.key: ctx.keystore.rewrap(blob, record_id=record_id)})
            )
            rewrapped += 1
    return rewrapped


def rotate_master_key(ctx: CAContext) -> RotationReport:
    """Rotate the master key of the data dir behind ``ctx`` (see the module docstring)."""
    keystore = ctx.keystore
    old_ids = tuple(keystore.key_ids)
    new_id = keystore.add_master_key()
    rewrapped = 0
    # Pass 1 re-wraps everything; a later pass that finds nothing left under an old
    # key proves no other process sealed under it meanwhile.
    for _ in range(_MAX_PASSES):
        with ctx.database.transaction() as session:
            changed = _rewrap_all(ctx, session, new_id)
            session.merge(MetaValue(key="keystore_fingerprint", value=keystore.fingerprint))
        rewrapped += changed
        if changed == 0:
            break
    else:
        raise KeystoreError(
            "records sealed under the old master key keep appearing; stop other certward "
            "processes (or make them reload) and run the rotation again"
        )
    keystore.retire_master_keys([new_id])
    _log.info("keystore.rotated", new_key_id=new_id, retired=list(old_ids), rewrapped=rewrapped)
    return RotationReport(
        new_key_id=new_id,
        retired_key_ids=old_ids,
        rewrapped=rewrapped,
        fingerprint=keystore.fingerprint,
    )
