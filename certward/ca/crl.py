"""Issuing CRLs: the next CRL number, every revoked entry of the CA, signed.

The entries were encoded when each certificate was revoked, so a CRL costs a
read, a join and one signature, whatever the number of revoked certificates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from cryptography import x509
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from certward.ca.context import CAContext
from certward.ca.crl_encoding import CRLParams, build_crl
from certward.ca.group_commit import TableRow, insert_rows
from certward.ca.lint import check_crl
from certward.crypto.formats import crl_pem
from certward.errors import InvalidValidity
from certward.store.models import CertificateAuthorityRow, CRLRow, RevocationRow
from certward.store.notify import notify_change

__all__ = ["KEPT_CRLS", "PublishedCRL", "issue_crl_in_session", "latest_crl", "publish_crl"]

_log = structlog.get_logger()

# Older CRLs are only history; a 1M-entry CRL is ~40 MB, so keep a few, not all.
KEPT_CRLS = 3


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


def issue_crl_in_session(
    ctx: CAContext, session: Session, row: CertificateAuthorityRow, *, days: int | None = None
) -> PublishedCRL:
    """Sign and store the next CRL of ``row``'s CA inside the caller's transaction."""
    lifetime = days if days is not None else ctx.settings.crl_days
    if lifetime <= 0 or lifetime > 3650:
        raise InvalidValidity(f"CRL validity must be 1-3650 days, not {lifetime}")
    if not ctx.database.is_sqlite:
        # SQLite holds the write lock from BEGIN IMMEDIATE; PostgreSQL needs the row lock
        # so two nodes never hand out the same CRL number.
        session.execute(
            select(CertificateAuthorityRow.id)
            .where(CertificateAuthorityRow.id == row.id)
            .with_for_update()
        )
        session.refresh(row)
    loaded = ctx.load(session, row)
    now = ctx.clock()
    number = row.crl_number + 1
    entries = list(
        session.execute(
            select(RevocationRow.entry_der)
            .where(RevocationRow.ca_id == row.id)
            .order_by(RevocationRow.id)
        ).scalars()
    )
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
    session.add(
        CRLRow(
            ca_id=row.id,
            number=number,
            this_update=params.this_update,
            next_update=params.next_update,
            entries=len(entries),
            der=der,
        )
    )
    row.crl_number = number
    session.execute(
        delete(CRLRow).where(CRLRow.ca_id == row.id, CRLRow.number <= number - KEPT_CRLS)
    )
    # Other nodes swap their TLS contexts when this commits (PostgreSQL NOTIFY).
    notify_change(session, f"crl:{row.name}")
    return PublishedCRL(
        ca_name=row.name,
        number=number,
        this_update=params.this_update,
        next_update=params.next_update,
        entries=len(entries),
        der=der,
    )


def publish_crl(
    ctx: CAContext,
    ca_name: str,
    *,
    days: int | None = None,
    extra_rows: Sequence[TableRow] = (),
) -> PublishedCRL:
    """Issue the next CRL of CA ``ca_name`` (one transaction), then publish its files."""
    from certward.ca.publish import publish_crl_files

    with ctx.database.transaction() as session:
        crl = issue_crl_in_session(ctx, session, ctx.ca_row(session, ca_name), days=days)
        insert_rows(session, extra_rows)
    publish_crl_files(ctx, ca_name=ca_name, crl_der=crl.der)
    _log.info("crl.published", ca=ca_name, number=crl.number, entries=crl.entries)
    return crl


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
