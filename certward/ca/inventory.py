"""The certificate inventory: filtered, searched and paged by a cursor."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from certward.ca.context import CAContext
from certward.crypto.serials import parse_serial, serial_hex
from certward.errors import CertificateNotFound, InvalidInput
from certward.store.models import CertificateAuthorityRow, CertificateRow

__all__ = [
    "MAX_PAGE_SIZE",
    "CertificatePage",
    "CertificateStatus",
    "CertificateSummary",
    "get_certificate",
    "list_certificates",
]

MAX_PAGE_SIZE = 1000


class CertificateStatus(enum.StrEnum):
    VALID = "valid"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True)
class CertificateSummary:
    """One certificate as the inventory shows it."""

    serial: str
    ca_name: str
    profile: str
    subject: str
    common_name: str | None
    sans: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    status: CertificateStatus
    revoked_at: datetime | None
    revocation_reason: str | None
    is_ca: bool
    der: bytes

    @property
    def certificate(self) -> x509.Certificate:
        """The certificate itself."""
        return x509.load_der_x509_certificate(self.der)


@dataclass(frozen=True)
class CertificatePage:
    """A page of the inventory and the cursor of the next one (None at the end)."""

    items: tuple[CertificateSummary, ...]
    next_cursor: str | None


def _status(row: CertificateRow, now: datetime) -> CertificateStatus:
    if row.revoked_at is not None:
        return CertificateStatus.REVOKED
    if row.not_after <= now:
        return CertificateStatus.EXPIRED
    return CertificateStatus.VALID


def _summary(row: CertificateRow, ca_name: str, now: datetime) -> CertificateSummary:
    return CertificateSummary(
        serial=row.serial,
        ca_name=ca_name,
        profile=row.profile,
        subject=row.subject,
        common_name=row.common_name,
        sans=tuple(row.sans.split()) if row.sans else (),
        not_before=row.not_before,
        not_after=row.not_after,
        status=_status(row, now),
        revoked_at=row.revoked_at,
        revocation_reason=row.revocation_reason,
        is_ca=row.is_ca,
        der=row.der,
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _filtered(
    query: Select[CertificateRow, str],
    *,
    now: datetime,
    status: CertificateStatus | None,
    expiring_within: timedelta | None,
    search: str | None,
    serial: str | None = None,
) -> Select[CertificateRow, str]:
    if status is CertificateStatus.REVOKED:
        query = query.where(CertificateRow.revoked_at.is_not(None))
    elif status is CertificateStatus.EXPIRED:
        query = query.where(CertificateRow.revoked_at.is_(None), CertificateRow.not_after <= now)
    elif status is CertificateStatus.VALID:
        query = query.where(CertificateRow.revoked_at.is_(None), CertificateRow.not_after > now)
    if expiring_within is not None:
        query = query.where(
            CertificateRow.revoked_at.is_(None),
            CertificateRow.not_after > now,
            CertificateRow.not_after <= now + expiring_within,
        )
    if serial is not None:
        query = query.where(CertificateRow.serial == serial)
    elif search:
        text = search.strip()
        pattern = f"%{_escape_like(text.lower())}%"
        conditions: list[ColumnElement[bool]] = [
            func.lower(CertificateRow.subject).like(pattern, escape="\\"),
            func.lower(CertificateRow.sans).like(pattern, escape="\\"),
        ]
        query = query.where(or_(*conditions))
    return query


def _stored_serial(session: Session, search: str | None) -> str | None:
    """The canonical serial ``search`` names if a certificate has it (one index lookup).

    A search that is exactly a stored serial finds that certificate without scanning
    the names (a substring search of names reads every row).
    """
    if not search:
        return None
    try:
        canonical = serial_hex(parse_serial(search.strip()))
    except InvalidInput:
        return None
    found = session.scalar(select(CertificateRow.id).where(CertificateRow.serial == canonical))
    return canonical if found is not None else None


def list_certificates(
    ctx: CAContext,
    *,
    ca_name: str | None = None,
    status: CertificateStatus | None = None,
    expiring_within: timedelta | None = None,
    search: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> CertificatePage:
    """A page of certificates, newest first, filtered; pass ``next_cursor`` for the next page."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"page size must be 1-{MAX_PAGE_SIZE}, not {limit}")
    after: int | None = None
    if cursor is not None:
        if not cursor.isdigit():
            raise InvalidInput(f"invalid cursor {cursor!r}")
        after = int(cursor)
    now = ctx.clock()
    with ctx.database.read() as session:
        query = select(CertificateRow, CertificateAuthorityRow.name).join(
            CertificateAuthorityRow, CertificateAuthorityRow.id == CertificateRow.ca_id
        )
        if ca_name is not None:
            query = query.where(CertificateRow.ca_id == ctx.ca_row(session, ca_name).id)
        query = _filtered(
            query,
            now=now,
            status=status,
            expiring_within=expiring_within,
            search=search,
            serial=_stored_serial(session, search),
        )
        if after is not None:
            query = query.where(CertificateRow.id < after)
        rows = session.execute(query.order_by(CertificateRow.id.desc()).limit(limit + 1)).all()
    items = tuple(_summary(row, name, now) for row, name in rows[:limit])
    next_cursor = str(rows[limit - 1][0].id) if len(rows) > limit else None
    return CertificatePage(items=items, next_cursor=next_cursor)


def get_certificate(ctx: CAContext, serial: str) -> CertificateSummary:
    """The certificate with ``serial`` (hex, any common notation)."""
    canonical = serial_hex(parse_serial(serial))
    with ctx.database.read() as session:
        found = session.execute(
            select(CertificateRow, CertificateAuthorityRow.name)
            .join(CertificateAuthorityRow, CertificateAuthorityRow.id == CertificateRow.ca_id)
            .where(CertificateRow.serial == canonical)
        ).first()
    if found is None:
        raise CertificateNotFound(f"no certificate with serial {canonical}")
    return _summary(found[0], found[1], ctx.clock())
