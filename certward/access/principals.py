"""Principals: API identities, each a client certificate bound to grants.

Creating a principal issues its client certificate and stores the binding in
one transaction, and hands back the only copy of its key (PEM and a PKCS#12
with a fresh random password). Disabling revokes the certificate and publishes
the CRL, so the next handshake with it fails.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from cryptography.hazmat.primitives import hashes
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from certward.access.grants import Grant, grants_from_json, grants_to_json
from certward.ca.context import CAContext
from certward.ca.crl import publish_crl
from certward.ca.factory import IssuedCertificate
from certward.ca.group_commit import TableRow, insert_rows
from certward.ca.issue import issue_certificate
from certward.ca.revoke import revoke_in_session
from certward.crypto.formats import certificate_pem, chain_pem, export_pkcs12
from certward.crypto.keys import private_key_to_pkcs8
from certward.errors import Conflict, InvalidName, NotFound
from certward.store.models import CertificateAuthorityRow, CertificateRow, PrincipalRow

__all__ = [
    "Principal",
    "PrincipalBundle",
    "create_principal",
    "disable_principal",
    "get_principal",
    "list_principals",
    "principal_by_fingerprint",
]

_log = structlog.get_logger()
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


@dataclass(frozen=True)
class Principal:
    """An API identity."""

    name: str
    description: str
    grants: tuple[Grant, ...]
    certificate_serial: str
    certificate_fingerprint: str
    created_at: datetime
    created_by: str | None
    disabled_at: datetime | None

    @property
    def enabled(self) -> bool:
        """False once the principal was disabled."""
        return self.disabled_at is None


@dataclass(frozen=True)
class PrincipalBundle:
    """A new principal and its credentials (the key exists nowhere else)."""

    principal: Principal
    issued: IssuedCertificate
    pkcs12_password: str = field(repr=False)

    @property
    def certificate_pem(self) -> bytes:
        return certificate_pem(self.issued.certificate)

    @property
    def chain_pem(self) -> bytes:
        """Certificate, then its CA chain up to the root."""
        return chain_pem(self.issued.full_chain)

    @property
    def private_key_pem(self) -> bytes:
        assert self.issued.private_key is not None
        return private_key_to_pkcs8(self.issued.private_key)

    @property
    def pkcs12(self) -> bytes:
        """PKCS#12 with key, certificate and chain, encrypted with ``pkcs12_password``."""
        assert self.issued.private_key is not None
        return export_pkcs12(
            name=self.principal.name,
            key=self.issued.private_key,
            certificate=self.issued.certificate,
            chain=self.issued.chain,
            password=self.pkcs12_password.encode(),
        )


def _principal(row: PrincipalRow, revoked_at: datetime | None = None) -> Principal:
    # A principal whose certificate was revoked by any route is disabled from then on.
    return Principal(
        name=row.name,
        description=row.description,
        grants=grants_from_json(row.grants),
        certificate_serial=row.certificate_serial,
        certificate_fingerprint=row.certificate_fingerprint,
        created_at=row.created_at,
        created_by=row.created_by,
        disabled_at=row.disabled_at or revoked_at,
    )


# Principals with the revocation time of their certificate.
_WITH_REVOCATION = select(PrincipalRow, CertificateRow.revoked_at).outerjoin(
    CertificateRow, CertificateRow.serial == PrincipalRow.certificate_serial
)


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise InvalidName(
            f"principal name {name!r} is invalid: 1-64 letters, digits, '.', '_', '@' or '-'"
        )
    return name


def create_principal(
    ctx: CAContext,
    *,
    name: str,
    grants: Sequence[Grant],
    ca_name: str,
    description: str = "",
    created_by: str | None = None,
    days: int | None = None,
    extra_rows: Sequence[TableRow] = (),
) -> PrincipalBundle:
    """Issue a client certificate from ``ca_name`` for a new principal with ``grants``."""
    _check_name(name)
    if len(description) > 500:
        raise InvalidName("principal description is longer than 500 characters")
    with ctx.database.read() as session:
        if session.scalar(select(PrincipalRow.id).where(PrincipalRow.name == name)) is not None:
            raise Conflict(f"a principal named {name!r} already exists")
    stored: list[PrincipalRow] = []

    def bind(session: Session, issued: IssuedCertificate) -> None:
        row = PrincipalRow(
            name=name,
            description=description,
            grants=grants_to_json(grants),
            certificate_serial=issued.serial,
            certificate_fingerprint=issued.certificate.fingerprint(hashes.SHA256()).hex(),
            created_at=ctx.clock(),
            created_by=created_by,
            disabled_at=None,
        )
        session.add(row)
        try:
            session.flush()
        except IntegrityError:
            raise Conflict(f"a principal named {name!r} already exists") from None
        stored.append(row)

    issued = issue_certificate(
        ctx,
        ca_name=ca_name,
        profile="client",
        common_name=name,
        sans=[f"URI:urn:certward:principal:{name}"],
        days=days,
        also=bind,
        extra_rows=extra_rows,
    )
    _log.info("principal.created", principal=name, serial=issued.serial, created_by=created_by)
    return PrincipalBundle(
        principal=_principal(stored[0]),
        issued=issued,
        pkcs12_password=secrets.token_urlsafe(18),
    )


def list_principals(
    ctx: CAContext, *, limit: int | None = None, after: str | None = None
) -> list[Principal]:
    """Principals by name: all, or at most ``limit`` whose names sort after ``after``."""
    query = _WITH_REVOCATION.order_by(PrincipalRow.name)
    if after is not None:
        query = query.where(PrincipalRow.name > after)
    if limit is not None:
        query = query.limit(limit)
    with ctx.database.read() as session:
        rows = session.execute(query).all()
        return [_principal(row, revoked_at) for row, revoked_at in rows]


def get_principal(ctx: CAContext, name: str) -> Principal:
    """The principal called ``name``."""
    with ctx.database.read() as session:
        found = session.execute(_WITH_REVOCATION.where(PrincipalRow.name == name)).first()
        if found is None:
            raise NotFound(f"no principal named {name!r}")
        return _principal(found[0], found[1])


def principal_by_fingerprint(ctx: CAContext, fingerprint: str) -> Principal | None:
    """The principal whose certificate has this SHA-256 fingerprint (hex), if any."""
    with ctx.database.read() as session:
        found = session.execute(
            _WITH_REVOCATION.where(PrincipalRow.certificate_fingerprint == fingerprint)
        ).first()
        return _principal(found[0], found[1]) if found is not None else None


def disable_principal(
    ctx: CAContext, name: str, *, extra_rows: Sequence[TableRow] = (), publish: bool = True
) -> Principal:
    """Disable a principal: revoke its certificate and publish its CA's CRL at once.

    ``extra_rows`` (an audit event) are stored in the same transaction. With
    ``publish=False`` the caller publishes the CRL (the service asks its background
    publisher, ``ca.crl_publisher``).
    """
    with ctx.database.transaction() as session:
        row = session.scalar(select(PrincipalRow).where(PrincipalRow.name == name))
        if row is None:
            raise NotFound(f"no principal named {name!r}")
        if row.disabled_at is not None:
            raise Conflict(f"principal {name!r} is already disabled")
        certificate = session.scalar(
            select(CertificateRow).where(CertificateRow.serial == row.certificate_serial)
        )
        assert certificate is not None  # issued in the same transaction as the principal
        if certificate.revoked_at is None:
            revoke_in_session(ctx, session, row.certificate_serial, reason="privilegeWithdrawn")
        row.disabled_at = ctx.clock()
        principal = _principal(row)
        insert_rows(session, extra_rows)
        issuer = session.get(CertificateAuthorityRow, certificate.ca_id)
        assert issuer is not None  # foreign key
        ca_name = issuer.name
    if publish:
        publish_crl(ctx, ca_name)
    _log.info("principal.disabled", principal=name, serial=row.certificate_serial)
    return principal
