"""Fill a certward store with many certificate rows fast, for the size-dependent benchmarks.

Signing a million certificates would take minutes of set-up before anything is
measured, so the bulk rows share one real certificate's DER (issued by the same
CA, so every row has a real certificate's size) while each has its own serial,
names, dates and, when revoked, its own CRL entry encoded as ``revoke`` stores it.
They go in through the same Core ``insert()`` executemany path as
``certward.ca.issue.issue_many``'s writer, in transactions of ``BATCH`` rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import cast

from cryptography import x509
from sqlalchemy import Table

from certward.ca.context import CAContext
from certward.ca.crl_encoding import encode_revoked_entry
from certward.ca.group_commit import CERTIFICATES
from certward.crypto.serials import serial_hex
from certward.store.models import RevocationRow

__all__ = ["BATCH", "FIRST_ID", "BulkCertificate", "Revocation", "insert_certificates"]

BATCH = 20_000
# Bulk ids start far above the real certificates' (the revocation rows need them).
FIRST_ID = 1_000_000_000
_REVOCATIONS = cast(Table, RevocationRow.__table__)

Revocation = tuple[int, datetime, x509.ReasonFlags | None]


@dataclass(frozen=True)
class BulkCertificate:
    """What differs from one bulk row to the next."""

    serial: int
    common_name: str
    sans: tuple[str, ...]
    not_after: datetime
    revoked: Revocation | None = None


def _batches(items: Iterable[BulkCertificate]) -> Iterator[list[BulkCertificate]]:
    iterator = iter(items)
    while batch := list(islice(iterator, BATCH)):
        yield batch


def insert_certificates(
    ctx: CAContext,
    certificates: Iterable[BulkCertificate],
    *,
    ca_id: int,
    template_der: bytes,
    first_id: int,
    profile: str = "server",
) -> int:
    """Store ``certificates`` as rows of CA ``ca_id`` with ids from ``first_id``; their count.

    Revoked ones also get their revocation row (the CRL entry DER included).
    """
    stored = 0
    with ctx.database.engine.connect() as connection:
        for batch in _batches(certificates):
            certs: list[dict[str, object]] = []
            revs: list[dict[str, object]] = []
            for offset, item in enumerate(batch):
                row_id = first_id + stored + offset
                text = serial_hex(item.serial)
                revoked_at = item.revoked[1] if item.revoked else None
                reason = item.revoked[2] if item.revoked else None
                certs.append(
                    {
                        "id": row_id,
                        "serial": text,
                        "ca_id": ca_id,
                        "profile": profile,
                        "is_ca": False,
                        "subject": f"CN={item.common_name}",
                        "common_name": item.common_name,
                        "sans": " ".join(item.sans),
                        "key_type": "ec-p256",
                        "fingerprint": "0" * 64,
                        "not_before": item.not_after - timedelta(days=365),
                        "not_after": item.not_after,
                        "issued_at": item.not_after - timedelta(days=365),
                        "der": template_der,
                        "key_sealed": None,
                        "revoked_at": revoked_at,
                        "revocation_reason": reason.value if reason else None,
                    }
                )
                if item.revoked is not None and revoked_at is not None:
                    revs.append(
                        {
                            "ca_id": ca_id,
                            "certificate_id": row_id,
                            "serial": text,
                            "revoked_at": revoked_at,
                            "reason": reason.value if reason else None,
                            "entry_der": encode_revoked_entry(item.serial, revoked_at, reason),
                        }
                    )
            with connection.begin():
                connection.execute(CERTIFICATES.insert(), certs)
                if revs:
                    connection.execute(_REVOCATIONS.insert(), revs)
            stored += len(batch)
    return stored
