"""Private keys made for a slot's CSR, kept sealed until their certificate is installed.

REDFISH's CSR job stores the new key with :func:`store_pending_key`; an install
without a key in the upload pairs the certificate with the pending key whose
public key it carries, and consumes it in the same transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from certward.ca.context import CAContext
from certward.crypto.keys import SigningKey, load_private_key
from certward.store.models import SlotPendingKeyRow

__all__ = [
    "MAX_PENDING_KEYS",
    "PendingKey",
    "newest_pending_key",
    "pending_key_record_id",
    "public_key_digest",
    "store_pending_key",
    "take_pending_key",
]

# Only the newest CSR keys of a slot are kept (OpenBMC keeps one; a few allow overlap).
MAX_PENDING_KEYS = 5


@dataclass(frozen=True)
class PendingKey:
    """A CSR key taken for an install: the opened key and the row it came from."""

    job_id: str
    key: SigningKey = field(repr=False)
    row_id: int


def pending_key_record_id(record: str) -> str:
    """The associated data that binds a sealed pending key to its row."""
    return f"slot-pending-key:{record}"


def public_key_digest(key: CertificatePublicKeyTypes) -> str:
    """SHA-256 of the SubjectPublicKeyInfo of ``key``, hex."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo))
    return digest.finalize().hex()


def store_pending_key(ctx: CAContext, slot: str, key: PrivateKeyTypes, *, job_id: str) -> None:
    """Keep ``key`` (sealed) as the newest CSR key of ``slot``; older ones beyond 5 go.

    ``job_id`` names the CSR job that made it (unique). The slot must exist
    (the caller checks it with ``get_slot``).
    """
    record = uuid.uuid4().hex
    pkcs8 = key.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    sealed = ctx.keystore.seal(pkcs8, record_id=pending_key_record_id(record))
    with ctx.database.transaction() as session:
        session.add(
            SlotPendingKeyRow(
                slot=slot,
                job_id=job_id,
                record=record,
                key_sealed=sealed,
                public_key_sha256=public_key_digest(key.public_key()),  # type: ignore[arg-type]
                created_at=ctx.clock(),
            )
        )
        session.flush()
        keep = session.scalars(
            select(SlotPendingKeyRow.id)
            .where(SlotPendingKeyRow.slot == slot)
            .order_by(SlotPendingKeyRow.id.desc())
            .limit(MAX_PENDING_KEYS)
        ).all()
        session.execute(
            delete(SlotPendingKeyRow).where(
                SlotPendingKeyRow.slot == slot, SlotPendingKeyRow.id.not_in(keep)
            )
        )


def take_pending_key(
    ctx: CAContext, session: Session, slot: str, public_key: CertificatePublicKeyTypes
) -> PendingKey | None:
    """The pending key of ``slot`` for ``public_key``, deleted in ``session``; None if absent."""
    row = session.scalar(
        select(SlotPendingKeyRow)
        .where(
            SlotPendingKeyRow.slot == slot,
            SlotPendingKeyRow.public_key_sha256 == public_key_digest(public_key),
        )
        .order_by(SlotPendingKeyRow.id.desc())
        .limit(1)
    )
    if row is None:
        return None
    key = load_private_key(
        ctx.keystore.open(row.key_sealed, record_id=pending_key_record_id(row.record))
    )
    session.delete(row)
    return PendingKey(job_id=row.job_id, key=key, row_id=row.id)


def newest_pending_key(ctx: CAContext, session: Session, slot: str) -> SigningKey | None:
    """The newest pending key of ``slot`` (to say "key mismatch" rather than "no key")."""
    row = session.scalar(
        select(SlotPendingKeyRow)
        .where(SlotPendingKeyRow.slot == slot)
        .order_by(SlotPendingKeyRow.id.desc())
        .limit(1)
    )
    if row is None:
        return None
    return load_private_key(
        ctx.keystore.open(row.key_sealed, record_id=pending_key_record_id(row.record))
    )
