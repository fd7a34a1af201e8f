"""What ``certward import`` checks about the certificates, the key and the CRL it is given.

pyca/cryptography does the signature checks (``verify_directly_issued_by``,
``is_signature_valid``); this module decides what to check and says what is
wrong in words an operator can act on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
)

from certward.ca.hashdir import crl_number, is_older_crl
from certward.errors import (
    CertificateKeyMismatch,
    CertificateRevoked,
    CertificateUntrusted,
    InvalidCRL,
    KeyTypeNotAllowed,
)

__all__ = [
    "MIN_RSA_BITS",
    "check_certificate_key",
    "check_crl",
    "check_key_type",
    "verify_chain",
]

MIN_RSA_BITS = 2048
_EC_CURVES = ("secp256r1", "secp384r1", "secp521r1")
_MAX_CHAIN = 8


def _spki(key: CertificatePublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _subject_text(certificate: x509.Certificate) -> str:
    return certificate.subject.rfc4514_string() or "(empty subject)"


def check_key_type(key: PrivateKeyTypes, *, allow_ec: bool) -> str:
    """The key's type as a short name; KeyTypeNotAllowed unless RSA ≥ 2048 (or EC if allowed).

    certImport imports RSA keys only; ``allow_ec`` relaxes that to the NIST curves.
    """
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise KeyTypeNotAllowed(
                f"the server key is RSA {key.key_size} bits; at least {MIN_RSA_BITS} are required"
            )
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not allow_ec:
            raise KeyTypeNotAllowed(
                "the server key is an EC key; only RSA keys are imported "
                "(as certImport does) unless --allow-ec is given"
            )
        if key.curve.name not in _EC_CURVES:
            raise KeyTypeNotAllowed(f"the server key uses the curve {key.curve.name}")
        return f"EC-{key.curve.name}"
    allowed = "RSA or EC" if allow_ec else "RSA"
    raise KeyTypeNotAllowed(
        f"the server key is a {type(key).__name__.removeprefix('_')} key; only {allowed} keys "
        "are imported"
    )


def check_certificate_key(certificate: x509.Certificate, key: PrivateKeyTypes) -> None:
    """CertificateKeyMismatch unless ``key`` is the private half of the certificate's key."""
    if _spki(certificate.public_key()) != _spki(key.public_key()):  # type: ignore[arg-type]
        raise CertificateKeyMismatch(
            "key mismatch: the server key does not belong to the server certificate"
        )


def _check_dates(certificate: x509.Certificate, now: datetime, role: str) -> None:
    if now < certificate.not_valid_before_utc:
        raise CertificateUntrusted(
            f"the {role} certificate {_subject_text(certificate)} is not valid before "
            f"{certificate.not_valid_before_utc.isoformat()}"
        )
    if now > certificate.not_valid_after_utc:
        raise CertificateUntrusted(
            f"the {role} certificate {_subject_text(certificate)} expired on "
            f"{certificate.not_valid_after_utc.isoformat()}"
        )


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    if not constraints.value.ca:
        return False
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return usage.key_cert_sign


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def verify_chain(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    *,
    now: datetime,
) -> tuple[x509.Certificate, ...]:
    """The path leaf → … → anchor, every link signed and every certificate within its dates.

    ``anchors`` are the CA file's certificates; ``intermediates`` those after the
    leaf in the server certificate file. CertificateUntrusted says which link fails.
    """
    _check_dates(leaf, now, "server")
    path = [leaf]
    current = leaf
    for _ in range(_MAX_CHAIN):
        anchor = next((ca for ca in anchors if _issued_by(current, ca)), None)
        if anchor is not None:
            if not _is_ca(anchor):
                raise CertificateUntrusted(
                    f"the CA certificate {_subject_text(anchor)} is not a CA "
                    "(no basicConstraints CA:TRUE with keyCertSign)"
                )
            _check_dates(anchor, now, "CA")
            return (*path, anchor)
        step = next(
            (
                candidate
                for candidate in intermediates
                if candidate not in path and _issued_by(current, candidate)
            ),
            None,
        )
        if step is None or not _is_ca(step):
            break
        _check_dates(step, now, "intermediate CA")
        path.append(step)
        current = step
    raise CertificateUntrusted(
        f"the server certificate {_subject_text(leaf)} is not signed by the given CA "
        f"({', '.join(_subject_text(ca) for ca in anchors)})"
    )


@dataclass(frozen=True)
class CheckedCRL:
    """A CRL that passed :func:`check_crl`, and the CA that signed it."""

    crl: x509.CertificateRevocationList
    issuer: x509.Certificate


def check_crl(
    crl: x509.CertificateRevocationList,
    cas: Sequence[x509.Certificate],
    *,
    now: datetime,
    not_revoked: x509.Certificate | None = None,
    previous: x509.CertificateRevocationList | None = None,
) -> CheckedCRL:
    """InvalidCRL unless ``crl`` is signed by one of ``cas`` and current at ``now``.

    Args:
        not_revoked: a certificate the CRL must not list (CertificateRevoked otherwise).
        previous: the CRL being replaced; the new one's CRL number must not be lower.
    """
    issuer = next(
        (
            ca
            for ca in cas
            if ca.subject == crl.issuer and crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
        ),
        None,
    )
    if issuer is None:
        raise InvalidCRL(
            f"the CRL of {crl.issuer.rfc4514_string() or '(empty issuer)'} is not signed by "
            "the CA certificate"
        )
    if now < crl.last_update_utc:
        raise InvalidCRL(
            f"the CRL is not valid yet: its thisUpdate is {crl.last_update_utc.isoformat()}"
        )
    if crl.next_update_utc is not None and now > crl.next_update_utc:
        raise InvalidCRL(
            f"the CRL expired: its nextUpdate was {crl.next_update_utc.isoformat()}; "
            "issue a new CRL"
        )
    if previous is not None and is_older_crl(crl, previous):
        new_number, old_number = crl_number(crl), crl_number(previous)
        numbers = (
            f"its CRL number {new_number} is lower than that of the CRL in place ({old_number})"
            if new_number is not None and old_number is not None
            else "its thisUpdate is before that of the CRL in place"
        )
        raise InvalidCRL(f"the CRL is older than the one in place: {numbers}")
    if (
        not_revoked is not None
        and not_revoked.issuer == crl.issuer
        and crl.get_revoked_certificate_by_serial_number(not_revoked.serial_number) is not None
    ):
        raise CertificateRevoked(
            f"the server certificate {_subject_text(not_revoked)} (serial "
            f"{not_revoked.serial_number:x}) is revoked by the CRL"
        )
    return CheckedCRL(crl=crl, issuer=issuer)
