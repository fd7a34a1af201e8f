"""Revoking certificates (RFC 5280 reason codes).

Revocation stores the certificate's CRL entry, encoded once, so revoking costs
the same whether the CA has revoked none or a million certificates. The next
CRL of the issuing CA lists it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from certward.ca.context import CAContext
from certward.ca.crl_encoding import encode_revoked_entry
from certward.ca.group_commit import TableRow, insert_rows
from certward.crypto.serials import parse_serial, serial_hex
from certward.errors import AlreadyRevoked, CertificateNotFound, InvalidInput, NotRevocable
from certward.store.models import CertificateAuthorityRow, CertificateRow, RevocationRow

__all__ = [
    "REASON_NAMES",
    "RevokedCertificate",
    "parse_reason",
    "revoke_certificate",
    "revoke_in_session",
]

_log = structlog.get_logger()

# The RFC 5280 names (as openssl prints and accepts them) → cryptography's flags.
REASON_NAMES: dict[str, x509.ReasonFlags] = {
    "unspecified": x509.ReasonFlags.unspecified,
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "cACompromise": x509.ReasonFlags.ca_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "certificateHold": x509.ReasonFlags.certificate_hold,
    "privilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn,
    "aACompromise": x509.ReasonFlags.aa_compromise,
}
_BY_LOWER = {name.lower(): flag for name, flag in REASON_NAMES.items()}
_BY_LOWER.update({flag.value.lower(): flag for flag in REASON_NAMES.values()})
_NAME_OF = {flag: name for name, flag in REASON_NAMES.items()}


def parse_reason(text: str | None) -> x509.ReasonFlags | None:
    """A reason given as its RFC 5280 name (``keyCompromise``) or snake case; None for none."""
    if text is None:
        return None
    flag = _BY_LOWER.get(text.strip().replace("_", "").lower()) or _BY_LOWER.get(
        text.strip().lower()
    )
    if flag is None:
        raise InvalidInput(
            f"unknown revocation reason {text!r}; use one of {', '.join(REASON_NAMES)}"
        )
    return flag


@dataclass(frozen=True)
class RevokedCertificate:
    """The outcome of a revocation."""

    serial: str
    ca_name: str
    revoked_at: datetime
    reason: str | None


def revoke_in_session(
    ctx: CAContext, session: Session, serial: str, *, reason: str | None = None
) -> RevokedCertificate:
    """Revoke inside the caller's transaction (see :func:`revoke_certificate`)."""
    flag = parse_reason(reason)
    canonical = serial_hex(parse_serial(serial))
    query = select(CertificateRow).where(CertificateRow.serial == canonical)
    if not ctx.database.is_sqlite:
        query = query.with_for_update()
    row = session.scalar(query)
    if row is None:
        raise CertificateNotFound(f"no certificate with serial {canonical}")
    if row.revoked_at is not None:
        raise AlreadyRevoked(
            f"certificate {canonical} was already revoked on {row.revoked_at.isoformat()}"
        )
    issuer = session.get(CertificateAuthorityRow, row.ca_id)
    assert issuer is not None  # foreign key
    if row.is_ca and issuer.serial == row.serial:
        raise NotRevocable(f"certificate {canonical} is a self-signed root and cannot be revoked")
    now = ctx.clock()
    row.revoked_at = now
    row.revocation_reason = _NAME_OF[flag] if flag is not None else None
    session.add(
        RevocationRow(
            ca_id=row.ca_id,
            certificate_id=row.id,
            serial=canonical,
            revoked_at=now,
            reason=row.revocation_reason,
            entry_der=encode_revoked_entry(int(canonical, 16), now, flag),
        )
    )
    return RevokedCertificate(
        serial=canonical, ca_name=issuer.name, revoked_at=now, reason=row.revocation_reason
    )


def revoke_certificate(
    ctx: CAContext,
    serial: str,
    *,
    reason: str | None = None,
    extra_rows: Sequence[TableRow] = (),
) -> RevokedCertificate:
    """Revoke the certificate with ``serial`` (hex); its CA's next CRL lists it.

    ``extra_rows`` (an audit event) are stored in the same transaction.
    """
    with ctx.database.transaction() as session:
        result = revoke_in_session(ctx, session, serial, reason=reason)
        insert_rows(session, extra_rows)
    _log.info("certificate.revoked", serial=result.serial, ca=result.ca_name, reason=result.reason)
    return result
