"""Issuing CRLs: the next CRL number, every revoked entry of the CA, signed.

The entries were encoded when each certificate was revoked, so a CRL costs a
read, a join and one signature, whatever the number of revoked certificates.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from cryptography import x509
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from certward.ca.context import CAContext, LoadedCA
from certward.ca.crl_encoding import CRLParams, build_crl
from certward.ca.group_commit import TableRow, insert_rows
from certward.ca.lint import check_crl
from certward.crypto.formats import crl_pem
from certward.errors import Conflict, InvalidValidity
from certward.store.models import CertificateAuthorityRow, CRLRow, RevocationRow
from certward.store.notify import notify_change

__all__ = [
    "KEPT_CRLS",
    "CRLFreshness",
    "PublishedCRL",
    "RevokedEntries",
    "crl_freshness",
    "issue_crl_in_session",
    "latest_crl",
    "publish_crl",
    "publish_crl_if_behind",
]

_log = structlog.get_logger()

# Older CRLs are only history; a 1M-entry CRL is ~40 MB, so keep a few, not all.
KEPT_CRLS = 3
# A background publication that keeps losing the race for the next number gives up.
_PUBLISH_ATTEMPTS = 5


@dataclass(frozen=True)
class PublishedCRL:
    """One issued CRL."""

    ca_name: str
    number: int
    this_update: datetime
    next_update: datetime
    entries: int
    der: bytes

    @property
    def pem(self) -> bytes:
        """The CRL in PEM armour."""
        return crl_pem(self.der)


def _lifetime(ctx: CAContext, days: int | None) -> int:
    lifetime = days if days is not None else ctx.settings.crl_days
    if lifetime <= 0 or lifetime > 3650:
        raise InvalidValidity(f"CRL validity must be 1-3650 days, not {lifetime}")
    return lifetime


def _revoked_entries(session: Session, ca_id: int) -> list[bytes]:
    return list(
        session.execute(
            select(RevocationRow.entry_der)
            .where(RevocationRow.ca_id == ca_id)
            .order_by(RevocationRow.id)
        ).scalars()
    )


def _signed_crl(
    loaded: LoadedCA, entries: list[bytes], *, number: int, now: datetime, lifetime: int
) -> tuple[CRLParams, bytes]:
    params = CRLParams(
        issuer=loaded.subject,
        this_update=now,
        next_update=now + timedelta(days=lifetime),
        crl_number=number,
        authority_key_identifier=x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
            loaded.key_id
        ),
    )
    der = build_crl(params, entries, private_key=loaded.key)
    check_crl(der, issuer_subject=loaded.subject, issuer_key_id=loaded.key_id.digest)
    return params, der


def _store_crl(
    session: Session, row: CertificateAuthorityRow, params: CRLParams, der: bytes, entries: int
) -> PublishedCRL:
    session.add(
        CRLRow(
            ca_id=row.id,
            number=params.crl_number,
            this_update=params.this_update,
            next_update=params.next_update,
            entries=entries,
            der=der,
        )
    )
    row.crl_number = params.crl_number
    session.execute(
        delete(CRLRow).where(CRLRow.ca_id == row.id, CRLRow.number <= params.crl_number - KEPT_CRLS)
    )
    # Other nodes swap their TLS contexts when this commits (PostgreSQL NOTIFY).
    notify_change(session, f"crl:{row.name}")
    return PublishedCRL(
        ca_name=row.name,
        number=params.crl_number,
        this_update=params.this_update,
        next_update=params.next_update,
        entries=entries,
        der=der,
    )


def _lock_ca_row(ctx: CAContext, session: Session, row: CertificateAuthorityRow) -> None:
    if not ctx.database.is_sqlite:
        # SQLite holds the write lock from BEGIN IMMEDIATE; PostgreSQL needs the row lock
        # so two nodes never hand out the same CRL number.
        session.execute(
            select(CertificateAuthorityRow.id)
            .where(CertificateAuthorityRow.id == row.id)
            .with_for_update()
        )
        session.refresh(row)


def issue_crl_in_session(
    ctx: CAContext, session: Session, row: CertificateAuthorityRow, *, days: int | None = None
) -> PublishedCRL:
    """Sign and store the next CRL of ``row``'s CA inside the caller's transaction."""
    lifetime = _lifetime(ctx, days)
    _lock_ca_row(ctx, session, row)
    loaded = ctx.load(session, row)
    entries = _revoked_entries(session, row.id)
    params, der = _signed_crl(
        loaded, entries, number=row.crl_number + 1, now=ctx.clock(), lifetime=lifetime
    )
    return _store_crl(session, row, params, der, len(entries))


class RevokedEntries:
    """The revoked entries of each CA read so far, joined, so the next CRL reads only new ones.

    For a background publisher: at a million revocations, reading every entry
    costs most of a CRL (~0.8 s of Python, holding the GIL the service's requests
    need); with this, a CRL reads the entries revoked since the last one and
    copies the rest in one piece. Entries are appended in id order, and every
    read checks the total against a count of the CA's revocations: a revocation
    committed with a lower id after the last read (PostgreSQL hands out ids at
    insert, not at commit) makes the counts differ, and everything is read again.
    """

    def __init__(self) -> None:
        self._by_ca: dict[int, tuple[int, int, bytes]] = {}  # ca id → (last id, count, joined)
        self._lock = threading.Lock()

    def read(self, session: Session, ca_id: int) -> tuple[bytes, int]:
        """Every revoked entry of the CA, joined in id order, and how many there are."""
        with self._lock:
            last_id, count, joined = self._by_ca.get(ca_id, (0, 0, b""))
            new = session.execute(
                select(RevocationRow.id, RevocationRow.entry_der)
                .where(RevocationRow.ca_id == ca_id, RevocationRow.id > last_id)
                .order_by(RevocationRow.id)
            ).all()
            total = _revocation_count(session, ca_id)
            if count + len(new) == total:
                if new:
                    joined = b"".join([joined, *(entry for _, entry in new)])
                    last_id = new[-1].id
            else:
                rows = session.execute(
                    select(RevocationRow.id, RevocationRow.entry_der)
                    .where(RevocationRow.ca_id == ca_id)
                    .order_by(RevocationRow.id)
                ).all()
                joined = b"".join(entry for _, entry in rows)
                last_id = rows[-1].id if rows else 0
                total = len(rows)
            self._by_ca[ca_id] = (last_id, total, joined)
            return joined, total


def _revocation_count(session: Session, ca_id: int) -> int:
    counted = session.scalar(
        select(func.count()).select_from(RevocationRow).where(RevocationRow.ca_id == ca_id)
    )
    return int(counted or 0)


@dataclass(frozen=True)
class CRLFreshness:
    """How the newest CRL of a CA stands against its revocations and its lifetime."""

    number: int
    listed: int  # entries on the newest CRL
    revoked: int  # certificates of the CA revoked now
    this_update: datetime
    next_update: datetime

    def behind(self, now: datetime) -> bool:
        """A revocation is missing from it, or it is past half of its life (renew early)."""
        half_life = self.this_update + (self.next_update - self.this_update) / 2
        return self.revoked != self.listed or now >= half_life


def crl_freshness(session: Session, row: CertificateAuthorityRow) -> CRLFreshness:
    """The newest CRL of ``row``'s CA next to its revocations (an indexed count, no CRL bytes)."""
    newest = session.execute(
        select(CRLRow.number, CRLRow.entries, CRLRow.this_update, CRLRow.next_update)
        .where(CRLRow.ca_id == row.id)
        .order_by(CRLRow.number.desc())
        .limit(1)
    ).one()
    return CRLFreshness(
        number=newest.number,
        listed=newest.entries,
        revoked=_revocation_count(session, row.id),
        this_update=newest.this_update,
        next_update=newest.next_update,
    )


def publish_crl_if_behind(
    ctx: CAContext,
    ca_name: str,
    *,
    days: int | None = None,
    entries: RevokedEntries | None = None,
) -> tuple[PublishedCRL | None, int]:
    """Publish the next CRL of ``ca_name`` if its newest one is behind; (new CRL, newest number).

    Built for a background publisher: the CRL is read and signed outside any write
    transaction (at a million entries that takes seconds, and revocations must not
    wait for it), then stored in a short one, provided no other publication took
    the next number meanwhile; if one did, the check starts over. Revocations
    committed while the CRL was built are left for the next publication.
    ``entries`` keeps what was read for the next call (see :class:`RevokedEntries`).
    """
    known = entries if entries is not None else RevokedEntries()
    lifetime = _lifetime(ctx, days)
    for _ in range(_PUBLISH_ATTEMPTS):
        with ctx.database.read() as session:
            row = ctx.ca_row(session, ca_name)
            freshness = crl_freshness(session, row)
            if not freshness.behind(ctx.clock()):
                return None, freshness.number
            seen = (row.crl_number, row.serial)
            loaded = ctx.load(session, row)
            joined, count = known.read(session, row.id)
        params, der = _signed_crl(
            loaded, [joined], number=seen[0] + 1, now=ctx.clock(), lifetime=lifetime
        )
        with ctx.database.transaction() as session:
            row = ctx.ca_row(session, ca_name)
            _lock_ca_row(ctx, session, row)
            if (row.crl_number, row.serial) != seen:
                continue  # another publication (or a re-key) came first: look again
            crl = _store_crl(session, row, params, der, count)
        _publish_files(ctx, crl)
        return crl, crl.number
    raise Conflict(f"CRL of CA {ca_name!r} kept changing while it was built; try again")


def publish_crl(
    ctx: CAContext,
    ca_name: str,
    *,
    days: int | None = None,
    extra_rows: Sequence[TableRow] = (),
) -> PublishedCRL:
    """Issue the next CRL of CA ``ca_name`` (one transaction), then publish its files."""
    with ctx.database.transaction() as session:
        crl = issue_crl_in_session(ctx, session, ctx.ca_row(session, ca_name), days=days)
        insert_rows(session, extra_rows)
    _publish_files(ctx, crl)
    return crl


def _publish_files(ctx: CAContext, crl: PublishedCRL) -> None:
    from certward.ca.publish import publish_crl_files

    publish_crl_files(ctx, ca_name=crl.ca_name, crl_der=crl.der)
    _log.info("crl.published", ca=crl.ca_name, number=crl.number, entries=crl.entries)


def latest_crl(ctx: CAContext, ca_name: str) -> PublishedCRL:
    """The newest CRL of CA ``ca_name`` (every CA has one from its creation on)."""
    with ctx.database.read() as session:
        row = ctx.ca_row(session, ca_name)
        crl = session.scalars(
            select(CRLRow).where(CRLRow.ca_id == row.id).order_by(CRLRow.number.desc()).limit(1)
        ).one()
        return PublishedCRL(
            ca_name=row.name,
            number=crl.number,
            this_update=crl.this_update,
            next_update=crl.next_update,
            entries=crl.entries,
            der=crl.der,
        )
