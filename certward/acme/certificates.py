"""ACME certificates: download with their chain, and revocation (RFC 8555 7.4.2, 7.6).

A certificate is downloaded by the account whose order made it. It is revoked
either by that account (``kid``) or by whoever holds its private key (a JWS
signed with the certificate's key, ``jwk``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from josepy.b64 import b64decode
from josepy.jwk import JWK
from sqlalchemy import select

from certward.acme.accounts import Account
from certward.acme.directory import AcmeDirectory
from certward.acme.jws import public_key_of
from certward.ca.authority import ca_chain
from certward.ca.context import CAContext
from certward.ca.crl import publish_crl
from certward.ca.group_commit import TableRow
from certward.ca.revoke import RevokedCertificate, revoke_certificate
from certward.crypto.formats import chain_pem
from certward.crypto.serials import serial_hex
from certward.errors import (
    AcmeAlreadyRevoked,
    AcmeBadRevocationReason,
    AcmeMalformed,
    AcmeNotFound,
    AcmeUnauthorized,
    AlreadyRevoked,
)
from certward.store.models import AcmeOrderRow, CertificateAuthorityRow, CertificateRow

__all__ = ["REVOCATION_REASONS", "StoredCertificate", "certificate_chain_pem", "revoke"]

# RFC 8555 7.6 uses RFC 5280 CRLReason codes; these are the ones a subscriber may give.
REVOCATION_REASONS = {
    0: "unspecified",
    1: "keyCompromise",
    3: "affiliationChanged",
    4: "superseded",
    5: "cessationOfOperation",
}


@dataclass(frozen=True)
class StoredCertificate:
    """A certificate of this directory's CA and the account whose order made it (if any)."""

    serial: str
    der: bytes
    account_id: int | None
    revoked: bool


def _stored(ctx: CAContext, directory: AcmeDirectory, serial: str) -> StoredCertificate:
    with ctx.database.read() as session:
        found = session.execute(
            select(CertificateRow.der, CertificateRow.revoked_at, AcmeOrderRow.account_id)
            .join(CertificateAuthorityRow, CertificateAuthorityRow.id == CertificateRow.ca_id)
            .outerjoin(AcmeOrderRow, AcmeOrderRow.certificate_serial == CertificateRow.serial)
            .where(
                CertificateRow.serial == serial,
                CertificateAuthorityRow.name == directory.ca_name,
            )
        ).first()
    if found is None:
        raise AcmeNotFound("no such certificate from this CA")
    return StoredCertificate(
        serial=serial,
        der=found.der,
        account_id=found.account_id,
        revoked=found.revoked_at is not None,
    )


def certificate_chain_pem(
    ctx: CAContext, directory: AcmeDirectory, account: Account, serial: str
) -> bytes:
    """The certificate and the CAs above it, without a self-signed root (PEM)."""
    stored = _stored(ctx, directory, serial.lower())
    if stored.account_id != account.id:
        raise AcmeNotFound("no such certificate for this account")
    leaf = x509.load_der_x509_certificate(stored.der)
    issuers = [ca for ca in ca_chain(ctx, directory.ca_name) if ca.issuer != ca.subject]
    return chain_pem([leaf, *issuers])


def revoke(
    ctx: CAContext,
    directory: AcmeDirectory,
    payload: dict[str, object],
    *,
    account: Account | None,
    certificate_key: JWK | None,
    audit: Callable[[str, str], Sequence[TableRow]],
    publish: bool = True,
) -> RevokedCertificate:
    """Revoke the certificate in ``payload`` for its account or its key holder; publish a CRL.

    ``audit(serial, reason)`` gives the audit rows stored with the revocation. With
    ``publish=False`` the caller publishes the CRL (the service's background publisher).
    """
    encoded = payload.get("certificate")
    if not isinstance(encoded, str):
        raise AcmeMalformed("revokeCert needs a certificate")
    try:
        certificate = x509.load_der_x509_certificate(b64decode(encoded))
    except (ValueError, TypeError):
        raise AcmeMalformed("the certificate is not base64url DER") from None
    reason_code = payload.get("reason", 0)
    if not isinstance(reason_code, int) or reason_code not in REVOCATION_REASONS:
        raise AcmeBadRevocationReason(
            f"reason must be one of {sorted(REVOCATION_REASONS)}, not {reason_code!r}"
        )
    stored = _stored(ctx, directory, serial_hex(certificate.serial_number))
    if stored.der != certificate.public_bytes(serialization.Encoding.DER):
        raise AcmeNotFound("no such certificate from this CA")
    if account is not None and stored.account_id != account.id:
        raise AcmeUnauthorized("this account did not order the certificate")
    if account is None:
        held = public_key_of(certificate_key) if certificate_key is not None else None
        if held is None or _spki(held) != _spki(certificate.public_key()):
            raise AcmeUnauthorized("the JWS is not signed by the certificate's key")
    if stored.revoked:
        raise AcmeAlreadyRevoked("the certificate is already revoked")
    try:
        reason = REVOCATION_REASONS[reason_code]
        revoked = revoke_certificate(
            ctx, stored.serial, reason=reason, extra_rows=audit(stored.serial, reason)
        )
    except AlreadyRevoked:
        raise AcmeAlreadyRevoked("the certificate is already revoked") from None
    if publish:
        publish_crl(ctx, directory.ca_name)
    return revoked


def _spki(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
