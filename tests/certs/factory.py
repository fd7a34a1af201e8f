"""Trustme-like CAs for slot tests: ``ca = TestCA("Peers CA"); leaf = ca.issue("localhost")``.

Built with pyca/cryptography alone (no certward database), so the same
material serves service, route and CLI tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Leaf", "TestCA", "new_key"]

KeyKind = Literal["ec", "rsa", "ed25519"]
# The key usage of every CA certificate the test factories make.
CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)
_NOW = datetime.now(UTC).replace(microsecond=0)


def new_key(kind: KeyKind = "ec") -> CertificateIssuerPrivateKeyTypes:
    """A fresh private key (EC P-256, RSA 2048 or Ed25519)."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def _pkcs8(key: CertificateIssuerPrivateKeyTypes) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _hash_for(key: CertificateIssuerPrivateKeyTypes) -> hashes.SHA256 | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


@dataclass(frozen=True)
class Leaf:
    """An issued certificate, its key and the chain above it (issuing CA first)."""

    certificate: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes = field(repr=False)
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return _pkcs8(self.key)

    @property
    def chain_pem(self) -> bytes:
        """The certificate, then its chain."""
        return self.cert_pem + b"".join(c.public_bytes(Encoding.PEM) for c in self.chain)

    @property
    def bundle_pem(self) -> bytes:
        """Certificate, chain and key in one file (what OpenBMC uploads look like)."""
        return self.chain_pem + self.key_pem


class TestCA:
    """A CA (self-signed, or under ``parent``) that issues leaves and CRLs."""

    __test__ = False  # not a pytest test class

    def __init__(
        self, name: str = "Test CA", *, parent: TestCA | None = None, key: KeyKind = "ec"
    ) -> None:
        self.key = new_key(key)
        self.parent = parent
        issuer_key = parent.key if parent else self.key
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(parent.certificate.subject if parent else _name(name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_NOW - timedelta(days=1))
            .not_valid_after(_NOW + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .add_extension(
                CA_KEY_USAGE,
                critical=True,
            )
        )
        if parent is not None:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(parent.key.public_key()),  # type: ignore[arg-type]
                critical=False,
            )
        self.certificate = builder.sign(issuer_key, _hash_for(issuer_key))
        self._crl_number = 0

    @property
    def cert_pem(self) -> bytes:
        return self.certificate.public_bytes(Encoding.PEM)

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """This CA and every CA above it."""
        return (self.certificate, *(self.parent.chain if self.parent else ()))

    def issue(
        self,
        common_name: str = "localhost",
        *,
        key: KeyKind = "ec",
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        client: bool = False,
    ) -> Leaf:
        """A server (or ``client``) certificate for ``common_name``."""
        leaf_key = new_key(key)
        eku = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.certificate.subject)
            .public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or _NOW - timedelta(hours=1))
            .not_valid_after(not_after or _NOW + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),  # type: ignore[arg-type]
                critical=False,
            )
        )
        certificate = builder.sign(self.key, _hash_for(self.key))
        return Leaf(certificate=certificate, key=leaf_key, chain=self.chain)

    def crl(
        self,
        revoked: tuple[x509.Certificate, ...] = (),
        *,
        number: int | None = None,
        next_update: datetime | None = None,
        this_update: datetime | None = None,
    ) -> x509.CertificateRevocationList:
        """A CRL of this CA (numbers count up unless given)."""
        if number is None:
            self._crl_number += 1
            number = self._crl_number
        this = this_update or datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(this)
            .next_update(next_update or this + timedelta(days=7))
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),  # type: ignore[arg-type]
                critical=False,
            )
        )
        for certificate in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(certificate.serial_number)
                .revocation_date(this)
                .build()
            )
        return builder.sign(self.key, _hash_for(self.key))
