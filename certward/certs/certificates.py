"""What a slot holds, as values: :class:`SlotCertificate`, its stable id and Redfish key usages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from certward.store.models import SlotCertificateRow

__all__ = ["SlotCertificate", "certificate_id", "redfish_key_usage", "slot_certificate_of"]

# Redfish KeyUsage names (Certificate.v1_x KeyUsage enum) of X.509 key usages and EKUs.
_KEY_USAGE_NAMES = (
    ("digital_signature", "DigitalSignature"),
    ("content_commitment", "NonRepudiation"),
    ("key_encipherment", "KeyEncipherment"),
    ("data_encipherment", "DataEncipherment"),
    ("key_agreement", "KeyAgreement"),
    ("key_cert_sign", "KeyCertSign"),
    ("crl_sign", "CRLSigning"),
)
_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "ServerAuthentication",
    ExtendedKeyUsageOID.CLIENT_AUTH: "ClientAuthentication",
    ExtendedKeyUsageOID.CODE_SIGNING: "CodeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "EmailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "Timestamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}


@dataclass(frozen=True)
class SlotCertificate:
    """One certificate in a slot, with the facts Redfish and the JSON API show."""

    slot: str
    id: str
    certificate: x509.Certificate = field(repr=False, compare=False)
    pem: bytes = field(repr=False)  # the certificate alone, PEM
    subject: str
    issuer: str
    not_before: datetime
    not_after: datetime
    serial: str
    key_usage: tuple[str, ...]
    fingerprint_sha256: str
    installed_at: datetime


def certificate_id(certificate: x509.Certificate) -> str:
    """The stable id of a certificate: the first 16 hex digits of its SHA-256 fingerprint.

    It depends on the certificate alone, so it survives restarts and is the same
    on every node; two different certificates collide with negligible chance.
    """
    return certificate.fingerprint(hashes.SHA256()).hex()[:16]


def redfish_key_usage(certificate: x509.Certificate) -> tuple[str, ...]:
    """The key usages and extended key usages of ``certificate`` by their Redfish names."""
    names: list[str] = []
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is not None:
        names += [name for attribute, name in _KEY_USAGE_NAMES if getattr(usage, attribute)]
        if usage.key_agreement:
            if usage.encipher_only:
                names.append("EncipherOnly")
            if usage.decipher_only:
                names.append("DecipherOnly")
    try:
        ekus = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        ekus = None
    if ekus is not None:
        names += [_EKU_NAMES[oid] for oid in ekus if oid in _EKU_NAMES]
    return tuple(names)


def slot_certificate_of(row: SlotCertificateRow) -> SlotCertificate:
    """The value of a stored slot certificate."""
    # The row keeps the chain sent with the certificate too; the value is the certificate.
    certificate = x509.load_pem_x509_certificate(row.pem.encode("ascii"))
    return SlotCertificate(
        slot=row.slot,
        id=row.cert_id,
        certificate=certificate,
        pem=certificate.public_bytes(Encoding.PEM),
        subject=row.subject,
        issuer=row.issuer,
        not_before=row.not_before,
        not_after=row.not_after,
        serial=row.serial,
        key_usage=redfish_key_usage(certificate),
        fingerprint_sha256=row.fingerprint,
        installed_at=row.installed_at,
    )
