"""Figures about the certificate inventory: counts by state and upcoming expiries per day.

Both are single aggregate queries (no rows are loaded), so they stay cheap on
large inventories; they take the same CA filter as the inventory listing.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, case, func, select

from certward.ca.context import CAContext
from certward.errors import InvalidInput
from certward.store.models import CertificateAuthorityRow, CertificateRow

__all__ = ["CertificateCounts", "ExpiryDay", "certificate_counts", "expiry_timeline"]

MAX_TIMELINE_DAYS = 366


@dataclass(frozen=True)
class CertificateCounts:
    """How many certificates are valid, revoked and expired."""

    valid: int
    revoked: int
    expired: int

    @property
    def total(self) -> int:
        return self.valid + self.revoked + self.expired


@dataclass(frozen=True)
class ExpiryDay:
    """How many valid certificates expire within one day (``start`` to ``start + 1 day``)."""

    day: date
    start: datetime
    count: int


def _of_cas(query: Select[Any], ca_names: Sequence[str] | None) -> Select[Any]:
    if ca_names is None:
        return query
    ids = select(CertificateAuthorityRow.id).where(CertificateAuthorityRow.name.in_(ca_names))
    return query.where(CertificateRow.ca_id.in_(ids))


def certificate_counts(
    ctx: CAContext, *, ca_names: Sequence[str] | None = None
) -> CertificateCounts:
    """Counts of the certificates of ``ca_names`` (None: of every CA) by state, now."""
    now = ctx.clock()
    revoked = CertificateRow.revoked_at.is_not(None)
    expired = and_(CertificateRow.revoked_at.is_(None), CertificateRow.not_after <= now)
    query = select(
        func.count(),
        func.coalesce(func.sum(case((revoked, 1), else_=0)), 0),
        func.coalesce(func.sum(case((expired, 1), else_=0)), 0),
    ).select_from(CertificateRow)
    with ctx.database.read() as session:
        total, revoked_count, expired_count = session.execute(_of_cas(query, ca_names)).one()
    valid = int(total) - int(revoked_count) - int(expired_count)
    return CertificateCounts(valid=valid, revoked=int(revoked_count), expired=int(expired_count))


def expiry_timeline(
    ctx: CAContext, *, days: int = 90, ca_names: Sequence[str] | None = None
) -> list[ExpiryDay]:
    """Valid certificates expiring in each of the next ``days`` days (day 0 starts now)."""
    if not 1 <= days <= MAX_TIMELINE_DAYS:
        raise InvalidInput(f"the timeline covers 1-{MAX_TIMELINE_DAYS} days, not {days}")
    now = ctx.clock()
    starts = [now + timedelta(days=offset) for offset in range(days + 1)]
    column = CertificateRow.not_after
    buckets = [
        func.coalesce(func.sum(case((and_(column > lo, column <= hi), 1), else_=0)), 0)
        for lo, hi in itertools.pairwise(starts)
    ]
    query = (
        select(*buckets)
        .select_from(CertificateRow)
        .where(CertificateRow.revoked_at.is_(None), column > now, column <= starts[-1])
    )
    with ctx.database.read() as session:
        counts: Sequence[Any] = session.execute(_of_cas(query, ca_names)).one()
    return [
        ExpiryDay(day=start.date(), start=start, count=int(count))
        for start, count in zip(starts, counts, strict=False)
    ]
