"""Seed inputs for parser fuzzing: one valid example of each format certward reads.

Shared by the CI-sized hypothesis tests here and the long runs in ``fuzz/``: a
mutation of a valid input reaches far deeper into a parser than random bytes.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certward.crypto.formats import export_pkcs12
from certward.kds.ident import KeyIdent
from certward.kms.ciphertext import Ciphertext
from certward.kms.specs import EncryptionAlgorithm

__all__ = ["Seeds", "seeds"]

PKCS12_PASSWORD = b"correct horse battery staple"


@dataclass(frozen=True)
class Seeds:
    certificate_der: bytes
    certificate_pem: bytes
    csr_der: bytes
    csr_pem: bytes
    crl_der: bytes
    crl_pem: bytes
    pkcs12: bytes
    key_pem: bytes
    ciphertext: bytes
    key_ident: bytes
    config_toml: str
    json_bodies: tuple[bytes, ...]


@cache
def seeds() -> Seeds:
    """Valid inputs of every format (made once per process)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fuzz.example")])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("fuzz.example")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(name)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("fuzz.example"), x509.UniformResourceIdentifier("urn:g#10s")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    revoked = (
        x509.RevokedCertificateBuilder()
        .serial_number(12345)
        .revocation_date(now)
        .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
        .build()
    )
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(name)
        .last_update(now)
        .next_update(now + dt.timedelta(days=7))
        .add_revoked_certificate(revoked)
        .add_extension(x509.CRLNumber(7), critical=False)
        .sign(key, hashes.SHA256())
    )
    der = serialization.Encoding.DER
    pem = serialization.Encoding.PEM
    header = Ciphertext.header_for(
        EncryptionAlgorithm.AES_256_GCM, "key-00000000-0000-4000-8000-000000000000", 1
    )
    return Seeds(
        certificate_der=certificate.public_bytes(der),
        certificate_pem=certificate.public_bytes(pem),
        csr_der=csr.public_bytes(der),
        csr_pem=csr.public_bytes(pem),
        crl_der=crl.public_bytes(der),
        crl_pem=crl.public_bytes(pem),
        pkcs12=export_pkcs12(
            name="fuzz", key=key, certificate=certificate, chain=[], password=PKCS12_PASSWORD
        ),
        key_pem=key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        ciphertext=header + bytes(12) + b"payload" + bytes(16),
        key_ident=KeyIdent(1_700_000_000_000, -42, "urn:group#10s").encode(),
        config_toml=(
            'crl_days = 7\nlog_level = "warning"\n[service]\nport = 8443\n'
            'max_body_bytes = 1048576\n[profiles.web]\nbase = "server"\n'
            'allowed_key_types = ["ec-p256"]\nmax_days = 90\n'
            'allowed_san_patterns = ["DNS:*.example.com"]\n'
        ),
        json_bodies=tuple(
            json.dumps(body).encode()
            for body in (
                {"ca": "issuing", "profile": "client", "common_name": "x", "sans": ["DNS:a"]},
                {"name": "p", "grants": [{"permission": "ca.issue", "resources": ["x"]}]},
                {"spec": "EC_P256", "usage": "SIGN_VERIFY", "description": "d"},
                {"key": "alias/a", "message": "bQ==", "algorithm": "ECDSA_SHA_256"},
                {"ciphertext": "Q1dLMQ==", "context": {"a": "b"}},
            )
        ),
    )
