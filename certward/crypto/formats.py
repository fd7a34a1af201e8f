"""Reading certificates, CSRs and CRLs from outside bytes; writing PEM and PKCS#12.

Every parser turns whatever it was given into a value or a MalformedData error:
outside bytes never raise anything else.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from certward.crypto.keys import MAX_PASSWORD_LENGTH, SigningKey
from certward.errors import MalformedData, PasswordError

__all__ = [
    "certificate_pem",
    "chain_pem",
    "crl_pem",
    "export_pkcs12",
    "load_certificate",
    "load_certificates",
    "load_crl",
    "load_csr",
    "load_pkcs12",
]

# What cryptography raises for bytes it cannot make sense of: InvalidVersion is no
# ValueError, and a name attribute of an unexpected ASN.1 type (a BIT STRING where a
# string belongs) comes out of its NameAttribute constructor as a TypeError (found by
# fuzz/fuzz_parsers.py).
_PARSE_ERRORS = (ValueError, TypeError, x509.InvalidVersion, UnsupportedAlgorithm)

_PEM_CERT = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n.+?\r?\n-----END CERTIFICATE-----", re.DOTALL
)


def load_certificate(data: bytes) -> x509.Certificate:
    """One certificate from PEM or DER bytes (the first one of a PEM bundle)."""
    certificates = load_certificates(data)
    return certificates[0]


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle, or the one certificate of a DER blob."""
    if not data.strip():
        raise MalformedData("the certificate file is empty")
    try:
        if b"-----BEGIN" in data:
            blocks = _PEM_CERT.findall(data)
            if not blocks:
                raise MalformedData("no PEM CERTIFICATE block found")
            certificates = [x509.load_pem_x509_certificate(block) for block in blocks]
        else:
            certificates = [x509.load_der_x509_certificate(data)]
        for certificate in certificates:
            # Names are parsed lazily by cryptography; bad ones must fail here, typed.
            _ = (certificate.subject, certificate.issuer)
        return certificates
    except _PARSE_ERRORS as exc:
        raise MalformedData(
            "the certificate could not be parsed (not a PEM or DER X.509 certificate)"
        ) from exc


def load_csr(data: bytes) -> x509.CertificateSigningRequest:
    """A PKCS#10 certificate signing request from PEM or DER bytes."""
    if not data.strip():
        raise MalformedData("the CSR is empty")
    try:
        if b"-----BEGIN" in data:
            csr = x509.load_pem_x509_csr(data)
        else:
            csr = x509.load_der_x509_csr(data)
        _ = csr.subject  # parsed lazily: a bad one must fail here, typed
        return csr
    except _PARSE_ERRORS as exc:
        raise MalformedData(
            "the CSR could not be parsed (not a PEM or DER PKCS#10 request)"
        ) from exc


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    """A CRL from PEM or DER bytes."""
    if not data.strip():
        raise MalformedData("the CRL is empty")
    try:
        if b"-----BEGIN" in data:
            crl = x509.load_pem_x509_crl(data)
        else:
            crl = x509.load_der_x509_crl(data)
        _ = crl.issuer  # parsed lazily: a bad one must fail here, typed
        return crl
    except _PARSE_ERRORS as exc:
        raise MalformedData("the CRL could not be parsed (not a PEM or DER CRL)") from exc


def certificate_pem(certificate: x509.Certificate) -> bytes:
    """PEM of one certificate."""
    return certificate.public_bytes(serialization.Encoding.PEM)


def chain_pem(certificates: Sequence[x509.Certificate]) -> bytes:
    """PEM bundle of certificates in the given order (leaf first, root last)."""
    return b"".join(certificate_pem(cert) for cert in certificates)


def crl_pem(crl_der: bytes) -> bytes:
    """PEM armour of a DER CRL (RFC 7468: base64 in lines of 64).

    Armoured here rather than by cryptography, which parses and re-encodes the
    CRL first: five times slower on a million-entry CRL (~40 MB), and every CRL
    published is armoured twice (the published file and the TLS trust file).
    """
    encoded = base64.b64encode(crl_der)
    lines = b"\n".join([encoded[i : i + 64] for i in range(0, len(encoded), 64)])
    return b"-----BEGIN X509 CRL-----\n" + lines + b"\n-----END X509 CRL-----\n"


def export_pkcs12(
    *,
    name: str,
    key: SigningKey,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    password: bytes | None,
) -> bytes:
    """A PKCS#12/PFX bundle of key, certificate and CA chain.

    With a password the bundle is encrypted with AES-256-CBC and PBKDF2 (what
    OpenSSL 3 and current browsers use); without one it is unencrypted, as seed 001
    allows for import into a test browser.
    """
    if password is not None and len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordError(f"password is longer than {MAX_PASSWORD_LENGTH} characters")
    encryption: serialization.KeySerializationEncryption
    if password:
        encryption = (
            serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(100_000)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .build(password)
        )
    else:
        encryption = serialization.NoEncryption()
    if not isinstance(
        key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise MalformedData(f"{type(key).__name__} keys cannot be exported as PKCS#12")
    return pkcs12.serialize_key_and_certificates(
        name.encode("utf-8"), key, certificate, list(chain) or None, encryption
    )


def load_pkcs12(
    data: bytes, *, password: bytes | None
) -> tuple[SigningKey | None, x509.Certificate | None, list[x509.Certificate]]:
    """Key, certificate and extra certificates of a PKCS#12 bundle."""
    if password is not None and len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordError(f"password is longer than {MAX_PASSWORD_LENGTH} characters")
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password)
    except ValueError:
        raise PasswordError(
            "the PKCS#12 bundle could not be opened: wrong password or damaged file"
        ) from None
    if key is not None and not isinstance(
        key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise MalformedData("the PKCS#12 bundle holds an unsupported key type")
    return key, cert, list(extra)
