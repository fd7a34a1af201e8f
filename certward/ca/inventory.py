"""The certificate inventory: filtered, searched and paged by a cursor.

A search of names is a case-insensitive substring match of the subject or the
SANs (``%``, ``_`` and ``\\`` are plain characters). Searches of three
characters or more are served by an index (migration 0008). On PostgreSQL,
pg_trgm indexes on ``lower(subject)`` and ``lower(sans)`` serve the very
``LIKE`` the search sends. On SQLite, the search walks the FTS5 trigram index
``certificates_search`` newest first (rowid = certificate id) and stops at the
page's end; the exact ``LIKE`` then checks each candidate, so the answer is the
scan's. Shorter searches (no trigram to look up), and a database without the
index, scan as before.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Text,
    column,
    func,
    literal,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session

from certward.ca.context import CAContext
from certward.crypto.serials import parse_serial, serial_hex
from certward.errors import CertificateNotFound, InvalidInput
from certward.store.models import (
    CERTIFICATE_SEARCH_TABLE,
    CertificateAuthorityRow,
    CertificateRow,
)

__all__ = [
    "MAX_PAGE_SIZE",
    "CertificatePage",
    "CertificateStatus",
    "CertificateSummary",
    "get_certificate",
    "list_certificates",
]

MAX_PAGE_SIZE = 1000

# SQLite's FTS5 trigram index (migration 0008): rowid is the certificate's id, and the
# hidden column of the table's own name takes MATCH queries.
_SEARCH_INDEX = table(
    CERTIFICATE_SEARCH_TABLE, column("rowid", Integer), column(CERTIFICATE_SEARCH_TABLE, Text)
)
_TRIGRAM = 3


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


def _names_match(words: str, *, dialect: str) -> ColumnElement[bool]:
    """Subject or SANs hold ``words`` (case-insensitive, every character literal)."""
    needle = words.lower()
    names = (func.lower(CertificateRow.subject), func.lower(CertificateRow.sans))
    if dialect == "postgresql" and len(words) < _TRIGRAM:
        # pg_trgm takes no trigram from so short a search and would read its whole index,
        # slower than the table; strpos is the same literal test, and no index claims it.
        return or_(*(func.strpos(name, needle) > 0 for name in names))
    # A literal, not a parameter: PostgreSQL then plans each search for its own pattern
    # (a prepared statement's generic plan cannot tell a rare name, best found through
    # the trigram index, from a common one, best found walking the ids backwards).
    text_pattern = f"%{_escape_like(needle)}%"
    pattern: str | ColumnElement[str] = (
        literal(text_pattern, Text, literal_execute=True)
        if dialect == "postgresql"
        else text_pattern
    )
    return or_(*(name.like(pattern, escape="\\") for name in names))


def _filtered(
    query: Select[CertificateRow, str],
    *,
    now: datetime,
    status: CertificateStatus | None,
    expiring_within: timedelta | None,
    search: str | None,
    serial: str | None,
    dialect: str,
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
        query = query.where(_names_match(search.strip(), dialect=dialect))
    return query


def _fts_phrase(words: str) -> str:
    """An FTS5 query for the substring ``words``: one quoted phrase (of its trigrams)."""
    return '"' + words.lower().replace('"', '""') + '"'


def _uses_search_index(session: Session, words: str) -> bool:
    """True when SQLite's trigram index can serve a search of ``words`` (3 characters or more)."""
    if len(words) < _TRIGRAM:
        return False
    if session.get_bind().dialect.name != "sqlite":
        return False
    found = session.execute(
        text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"),
        {"name": CERTIFICATE_SEARCH_TABLE},
    ).first()
    return found is not None


def _stored_serial(session: Session, search: str | None) -> str | None:
    """The canonical serial ``search`` names if a certificate has it (one index lookup).

    A search that is exactly a stored serial finds that certificate and nothing else
    (its hex digits would also match other certificates' names).
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
    if search is not None and "\x00" in search:
        # No stored name holds one (subjects are kept as RFC 4514 text, which escapes it).
        raise InvalidInput("a search must not contain NUL characters")
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
        serial = _stored_serial(session, search)
        # Newest first by id; through the index, by its rowid (the same number), which
        # FTS5 walks in that order itself, so the query stops at the page's end.
        key: ColumnElement[int] = CertificateRow.id.expression
        words = search.strip() if search else ""
        if serial is None and _uses_search_index(session, words):
            query = query.join(_SEARCH_INDEX, _SEARCH_INDEX.c.rowid == CertificateRow.id).where(
                _SEARCH_INDEX.c[CERTIFICATE_SEARCH_TABLE].match(_fts_phrase(words))
            )
            key = _SEARCH_INDEX.c.rowid
        query = _filtered(
            query,
            now=now,
            status=status,
            expiring_within=expiring_within,
            search=search,
            serial=serial,
            dialect=session.get_bind().dialect.name,
        )
        if after is not None:
            query = query.where(key < after)
        rows = session.execute(query.order_by(key.desc()).limit(limit + 1)).all()
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
