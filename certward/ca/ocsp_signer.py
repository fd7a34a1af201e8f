"""Delegated OCSP responder certificates: one per CA, issued and renewed by certward itself.

RFC 6960 4.2.2.2 lets a CA delegate OCSP signing to a certificate it issued
with the id-kp-OCSPSigning EKU. certward makes one per CA on first use, with
id-pkix-ocsp-nocheck (relying parties need not check the responder's own
status) and a short validity, and makes the next one once a third of the
current one's validity is left. It is stored like any other certificate (its
key sealed by the keystore), so it shows in the inventory and can be revoked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID
from sqlalchemy import select
from sqlalchemy.orm import Session

from certward.ca.context import CAContext
from certward.ca.factory import CertificateFactory, certificate_key_record_id
from certward.ca.group_commit import CERTIFICATES
from certward.ca.issue import leaf_request
from certward.ca.profiles import Profile
from certward.crypto.keys import KeyType, SigningKey, load_private_key, signature_hash_for
from certward.store.models import CertificateRow

__all__ = ["RESPONDER_PROFILE", "ResponderIdentity", "current_responder"]

_log = structlog.get_logger()

# Not in the profile registry: nobody asks for one, certward makes them when it needs one.
RESPONDER_PROFILE = Profile(
    name="ocsp-responder",
    ext_key_usages=(ExtendedKeyUsageOID.OCSP_SIGNING,),
    allowed_key_types=frozenset({KeyType.EC_P256}),
    default_days=30,
    max_days=365,
    ocsp_no_check=True,
)


@dataclass(frozen=True)
class ResponderIdentity:
    """A CA's current OCSP signer: certificate, opened key and when to replace it."""

    ca_name: str
    serial: str
    certificate: x509.Certificate
    key: SigningKey = field(repr=False)
    hash_algorithm: hashes.SHA256 | hashes.SHA384 | None
    not_after: datetime
    renew_at: datetime


def _renew_at(not_before: datetime, not_after: datetime) -> datetime:
    return not_after - (not_after - not_before) / 3


def _identity(ctx: CAContext, ca_name: str, row: CertificateRow) -> ResponderIdentity:
    assert row.key_sealed is not None  # responder rows are always stored with their key
    key = load_private_key(
        ctx.keystore.open(row.key_sealed, record_id=certificate_key_record_id(row.serial))
    )
    return ResponderIdentity(
        ca_name=ca_name,
        serial=row.serial,
        certificate=x509.load_der_x509_certificate(row.der),
        key=key,
        hash_algorithm=signature_hash_for(key),
        not_after=row.not_after,
        renew_at=_renew_at(row.not_before, row.not_after),
    )


def _usable_responder(session: Session, ca_id: int, now: datetime) -> CertificateRow | None:
    row = session.scalars(
        select(CertificateRow)
        .where(
            CertificateRow.ca_id == ca_id,
            CertificateRow.profile == RESPONDER_PROFILE.name,
            CertificateRow.revoked_at.is_(None),
            CertificateRow.not_after > now,
        )
        .order_by(CertificateRow.not_after.desc())
        .limit(1)
    ).first()
    if row is None or now >= _renew_at(row.not_before, row.not_after):
        return None
    return row


def current_responder(ctx: CAContext, ca_name: str, *, days: int) -> ResponderIdentity:
    """The responder of CA ``ca_name``: the newest one still fresh, else a new one made now.

    Raises CANotFound, or IssuerNotUsable when the CA may not sign (revoked, expired).
    Two processes renewing at once each store one; both are valid, the newest is used.
    """
    now = ctx.clock()
    with ctx.database.read() as session:
        ca_row = ctx.ca_row(session, ca_name)
        found = _usable_responder(session, ca_row.id, now)
        if found is not None:
            return _identity(ctx, ca_name, found)
    request = leaf_request(common_name=f"{ca_name} OCSP responder"[:64], key_type=KeyType.EC_P256)
    with ctx.database.transaction() as session:
        factory = CertificateFactory(
            issuer=ctx.usable_issuer(session, ca_name),
            profile=RESPONDER_PROFILE,
            keystore=ctx.keystore,
            store_keys=True,
        )
        not_before, not_after = factory.validity(now, days)
        _, values = factory.make(request, not_before=not_before, not_after=not_after, issued_at=now)
        session.execute(CERTIFICATES.insert(), [values])
        row = session.scalars(
            select(CertificateRow).where(CertificateRow.serial == values["serial"])
        ).one()
        identity = _identity(ctx, ca_name, row)
    _log.info(
        "ocsp.responder_issued",
        ca=ca_name,
        serial=identity.serial,
        not_after=identity.not_after.isoformat(),
    )
    return identity
