"""What an operator checks first: nodes, database, CRL ages, expiring certificates, KDS.

:func:`service_status` reads everything in one go from the database (it never
opens a sealed secret), so ``certward status`` is safe to run on any node or
from a monitoring job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from certward.ca.context import CAContext
from certward.nodes import NodeInfo, list_nodes
from certward.store.models import (
    CertificateAuthorityRow,
    CertificateRow,
    CRLRow,
    KdsMasterKeyRow,
    KdsNodeRow,
)

__all__ = ["CAStatus", "KdsStatus", "ServiceStatus", "service_status"]

EXPIRING_WITHIN = timedelta(days=30)
_KDS_LIVE_WITHIN = timedelta(seconds=60)


@dataclass(frozen=True)
class CAStatus:
    name: str
    not_after: datetime
    crl_number: int
    crl_this_update: datetime | None
    crl_next_update: datetime | None
    crl_age_seconds: float | None
    crl_overdue: bool


@dataclass(frozen=True)
class KdsStatus:
    master_keys: int
    newest_master_key: int | None  # millisecond timestamp
    publisher: str | None
    live_nodes: int


@dataclass(frozen=True)
class ServiceStatus:
    database: str
    schema_revision: str | None
    keystore_fingerprint: str
    nodes: list[NodeInfo]
    cas: list[CAStatus]
    certificates: dict[str, int]  # valid / revoked / expired
    expiring_within_30_days: int
    kds: KdsStatus


def service_status(ctx: CAContext) -> ServiceStatus:
    """The state of this installation, as its database sees it now."""
    now = ctx.clock()
    current, _ = ctx.database.schema_revisions()
    with ctx.database.read() as session:
        cas = []
        for row in session.scalars(
            select(CertificateAuthorityRow).order_by(CertificateAuthorityRow.id)
        ):
            crl = session.scalars(
                select(CRLRow).where(CRLRow.ca_id == row.id).order_by(CRLRow.number.desc()).limit(1)
            ).first()
            cas.append(
                CAStatus(
                    name=row.name,
                    not_after=row.not_after,
                    crl_number=row.crl_number,
                    crl_this_update=crl.this_update if crl else None,
                    crl_next_update=crl.next_update if crl else None,
                    crl_age_seconds=(now - crl.this_update).total_seconds() if crl else None,
                    crl_overdue=crl is None or crl.next_update <= now,
                )
            )
        leaves = CertificateRow.is_ca.is_(False)
        revoked = session.scalar(
            select(func.count()).where(leaves, CertificateRow.revoked_at.is_not(None))
        )
        expired = session.scalar(
            select(func.count()).where(
                leaves, CertificateRow.revoked_at.is_(None), CertificateRow.not_after <= now
            )
        )
        valid = session.scalar(
            select(func.count()).where(
                leaves, CertificateRow.revoked_at.is_(None), CertificateRow.not_after > now
            )
        )
        expiring = session.scalar(
            select(func.count()).where(
                leaves,
                CertificateRow.revoked_at.is_(None),
                CertificateRow.not_after > now,
                CertificateRow.not_after <= now + EXPIRING_WITHIN,
            )
        )
        master_keys = session.scalar(select(func.count()).select_from(KdsMasterKeyRow))
        newest = session.scalar(select(func.max(KdsMasterKeyRow.timestamp)))
        live_kds = session.scalars(
            select(KdsNodeRow).where(KdsNodeRow.heartbeat_at > now - _KDS_LIVE_WITHIN)
        ).all()
    publisher = next((n.node_id for n in live_kds if n.publisher), None)
    return ServiceStatus(
        database=ctx.database.safe_url,
        schema_revision=current,
        keystore_fingerprint=ctx.keystore.fingerprint,
        nodes=list_nodes(ctx),
        cas=cas,
        certificates={"valid": valid or 0, "revoked": revoked or 0, "expired": expired or 0},
        expiring_within_30_days=expiring or 0,
        kds=KdsStatus(
            master_keys=master_keys or 0,
            newest_master_key=newest,
            publisher=publisher,
            live_nodes=len(live_kds),
        ),
    )
