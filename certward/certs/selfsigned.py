"""The self-signed certificate a server slot falls back to, so its service keeps serving.

As bmcweb does: EC P-384, CN = the host name, valid for ten years.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certward.crypto.serials import random_serial

__all__ = ["SELF_SIGNED_DAYS", "self_signed_identity"]

SELF_SIGNED_DAYS = 3650


def self_signed_identity(
    host_name: str, *, now: datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A fresh EC P-384 key and a self-signed server certificate for ``host_name``."""
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host_name[:64])])
    try:
        san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host_name))
    except ValueError:
        san = x509.DNSName(host_name)
    public_key = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(random_serial())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([san]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(key, hashes.SHA384())
    )
    return certificate, key
