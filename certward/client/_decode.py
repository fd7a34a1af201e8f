"""The API's JSON shapes (``certward/server/schemas.py``) turned into certward's values."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from certward.access.audit import AuditEvent
from certward.access.grants import Grant
from certward.ca.authority import CAInfo
from certward.ca.factory import IssuedCertificate
from certward.ca.inventory import CertificateStatus, CertificateSummary
from certward.ca.revoke import RevokedCertificate
from certward.client._results import PrincipalInfo
from certward.crypto.formats import load_certificate, load_certificates
from certward.crypto.keys import load_private_key

__all__ = [
    "audit_event",
    "ca_info",
    "certificate_summary",
    "grants",
    "issued_certificate",
    "pkcs12_bytes",
    "principal_info",
    "revoked_certificate",
    "time",
    "time_or_none",
]

JSON = Mapping[str, Any]


def time(text: str) -> datetime:
    """An ISO 8601 time from the API as an aware UTC datetime."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def time_or_none(text: str | None) -> datetime | None:
    """:func:`time`, passing None through."""
    return None if text is None else time(text)


def grants(items: list[JSON]) -> tuple[Grant, ...]:
    """Grants from their JSON form."""
    return tuple(Grant.from_dict(dict(item)) for item in items)


def ca_info(data: JSON) -> CAInfo:
    """``CAOut`` → CAInfo."""
    return CAInfo(
        name=data["name"],
        parent=data["parent"],
        subject=data["subject"],
        key_type=data["key_type"],
        serial=data["serial"],
        not_before=time(data["not_before"]),
        not_after=time(data["not_after"]),
        path_length=data["path_length"],
        crl_number=data["crl_number"],
        certificate_pem=data["certificate_pem"].encode(),
    )


def issued_certificate(data: JSON) -> IssuedCertificate:
    """``IssuedOut`` → IssuedCertificate, with the private key parsed when there is one."""
    # chain_pem is the certificate followed by its CAs; IssuedCertificate.chain holds the CAs.
    chain = load_certificates(data["chain_pem"].encode())
    key_pem = data.get("private_key_pem")
    return IssuedCertificate(
        serial=data["serial"],
        ca_name=data["ca"],
        profile=data["profile"],
        certificate=load_certificate(data["certificate_pem"].encode()),
        chain=tuple(chain[1:]),
        private_key=load_private_key(key_pem.encode()) if key_pem else None,
    )


def certificate_summary(data: JSON) -> CertificateSummary:
    """``CertificateOut`` → CertificateSummary."""
    certificate = load_certificate(data["certificate_pem"].encode())
    return CertificateSummary(
        serial=data["serial"],
        ca_name=data["ca"],
        profile=data["profile"],
        subject=data["subject"],
        common_name=data["common_name"],
        sans=tuple(data["sans"]),
        not_before=time(data["not_before"]),
        not_after=time(data["not_after"]),
        status=CertificateStatus(data["status"]),
        revoked_at=time_or_none(data["revoked_at"]),
        revocation_reason=data["revocation_reason"],
        is_ca=data["is_ca"],
        der=certificate.public_bytes(Encoding.DER),
    )


def revoked_certificate(data: JSON) -> RevokedCertificate:
    """``RevokedOut`` → RevokedCertificate (its ``crl_number`` is read by the caller)."""
    return RevokedCertificate(
        serial=data["serial"],
        ca_name=data["ca"],
        revoked_at=time(data["revoked_at"]),
        reason=data["reason"],
    )


def principal_info(data: JSON) -> PrincipalInfo:
    """``PrincipalOut`` → PrincipalInfo."""
    return PrincipalInfo(
        name=data["name"],
        description=data["description"],
        grants=grants(data["grants"]),
        certificate_serial=data["certificate_serial"],
        created_at=time(data["created_at"]),
        created_by=data["created_by"],
        disabled_at=time_or_none(data["disabled_at"]),
    )


def audit_event(data: JSON) -> AuditEvent:
    """``AuditEventOut`` → AuditEvent."""
    return AuditEvent(
        id=data["id"],
        time=time(data["time"]),
        principal=data["principal"],
        action=data["action"],
        target=data["target"],
        result=data["result"],
        request_id=data["request_id"],
        details=dict(data["details"]),
    )


def pkcs12_bytes(data: JSON) -> bytes:
    """The PKCS#12 bundle of a ``PrincipalBundleOut``."""
    return base64.b64decode(data["pkcs12_base64"], validate=True)
