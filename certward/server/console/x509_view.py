"""How the console shows a certificate: its extensions as names and readable values."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from certward.crypto.names import format_san

__all__ = ["ExtensionView", "extension_views", "fingerprint_sha256"]

_KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


@dataclass(frozen=True)
class ExtensionView:
    """One extension: its name (or OID), whether it is critical, and its value as lines."""

    name: str
    oid: str
    critical: bool
    lines: tuple[str, ...]


def fingerprint_sha256(certificate: x509.Certificate) -> str:
    """The SHA-256 fingerprint as colon-separated hex."""
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()


def _names(names: Iterable[x509.GeneralName]) -> list[str]:
    out = []
    for name in names:
        try:
            out.append(format_san(name))
        except (ValueError, TypeError):
            out.append(str(name.value))
    return out


def _key_usage(value: x509.KeyUsage) -> list[str]:
    used = [usage.replace("_", " ") for usage in _KEY_USAGES if getattr(value, usage)]
    if value.key_agreement:
        if value.encipher_only:
            used.append("encipher only")
        if value.decipher_only:
            used.append("decipher only")
    return used


def _lines(value: x509.ExtensionType) -> list[str]:
    if isinstance(value, x509.BasicConstraints):
        limit = "none" if value.path_length is None else str(value.path_length)
        return [
            f"CA: {'yes' if value.ca else 'no'}" + (f", path length: {limit}" if value.ca else "")
        ]
    if isinstance(value, x509.KeyUsage):
        return _key_usage(value)
    if isinstance(value, x509.ExtendedKeyUsage):
        return [getattr(oid, "_name", None) or oid.dotted_string for oid in value]
    if isinstance(value, x509.SubjectAlternativeName | x509.IssuerAlternativeName):
        return _names(value)
    if isinstance(value, x509.SubjectKeyIdentifier):
        return [value.digest.hex(":").upper()]
    if isinstance(value, x509.AuthorityKeyIdentifier):
        return [value.key_identifier.hex(":").upper()] if value.key_identifier else []
    if isinstance(value, x509.CRLDistributionPoints):
        return [line for point in value for line in _names(point.full_name or ())]
    if isinstance(value, x509.AuthorityInformationAccess):
        return [
            f"{getattr(d.access_method, '_name', d.access_method.dotted_string)}: "
            f"{_names([d.access_location])[0]}"
            for d in value
        ]
    if isinstance(value, x509.CertificatePolicies):
        return [policy.policy_identifier.dotted_string for policy in value]
    if isinstance(value, x509.NameConstraints):
        permitted = _names(value.permitted_subtrees or ())
        excluded = _names(value.excluded_subtrees or ())
        return [f"permitted: {p}" for p in permitted] + [f"excluded: {e}" for e in excluded]
    return [repr(value)[:300]]


def extension_views(certificate: x509.Certificate) -> list[ExtensionView]:
    """Every extension of ``certificate``, in order, for display."""
    views = []
    for extension in certificate.extensions:
        name = getattr(extension.oid, "_name", None) or extension.oid.dotted_string
        views.append(
            ExtensionView(
                name=name,
                oid=extension.oid.dotted_string,
                critical=extension.critical,
                lines=tuple(_lines(extension.value)),
            )
        )
    return views
