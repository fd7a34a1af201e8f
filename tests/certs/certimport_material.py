"""A small PKI for the ``certward import`` tests, trustme style, and a filesystem snapshot.

ca = TinyCA("Stream CA")
server = ca.issue("localhost")                # RSA-2048 server certificate + key
files = server.write(tmp_path / "in", password="pw")   # ca.crt, server.crt, server.key (0400)
crl = ca.crl(revoked=[server])                # a signed CRL, current unless dates given
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.certs.factory import CA_KEY_USAGE

__all__ = ["PASSWORD", "Identity", "InputFiles", "TinyCA", "new_key", "snapshot_tree"]

PASSWORD = "Str3am-server key pass"
_RSA_CACHE: list[rsa.RSAPrivateKey] = []


def new_key(kind: str = "rsa") -> CertificateIssuerPrivateKeyTypes:
    """A fresh key: ``rsa`` (2048), ``rsa1024``, ``ec`` (P-256) or ``ed25519``."""
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "rsa1024":
        return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (to be refused)
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(kind)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _hash_for(key: CertificateIssuerPrivateKeyTypes) -> hashes.SHA256 | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


@dataclass(frozen=True)
class InputFiles:
    """The files handed to ``certward import``."""

    ca: Path
    certificate: Path
    key: Path


@dataclass
class Identity:
    """A certificate and its key."""

    certificate: x509.Certificate
    key: CertificateIssuerPrivateKeyTypes
    chain: tuple[x509.Certificate, ...] = ()

    def certificate_pem(self) -> bytes:
        """The certificate, then the chain, PEM."""
        return b"".join(
            c.public_bytes(serialization.Encoding.PEM) for c in (self.certificate, *self.chain)
        )

    def key_pem(self, password: str | None = PASSWORD) -> bytes:
        """The key, PKCS#8 PEM, encrypted when ``password`` is given."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password.encode())
            if password
            else serialization.NoEncryption()
        )
        return self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    def write_pair(self, directory: Path, name: str) -> tuple[Path, Path]:
        """``<name>.crt`` and an unencrypted ``<name>.key`` (0600), e.g. for a TLS client."""
        directory.mkdir(parents=True, exist_ok=True)
        cert, key = directory / f"{name}.crt", directory / f"{name}.key"
        cert.write_bytes(self.certificate_pem())
        key.write_bytes(self.key_pem(None))
        key.chmod(0o600)
        return cert, key


@dataclass
class TinyCA:
    """A CA that issues server/client certificates and CRLs."""

    common_name: str
    key: CertificateIssuerPrivateKeyTypes = field(default_factory=new_key)
    parent: TinyCA | None = None
    not_before: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(days=1))
    not_after: datetime = field(default_factory=lambda: datetime.now(UTC) + timedelta(days=365))
    certificate: x509.Certificate = field(init=False)
    crl_number: int = 0
    last_update: datetime = datetime(2000, 1, 1, tzinfo=UTC)

    def __post_init__(self) -> None:
        issuer_key = self.parent.key if self.parent else self.key
        issuer_name = self.parent.certificate.subject if self.parent else _name(self.common_name)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(self.common_name))
            .issuer_name(issuer_name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.not_before)
            .not_valid_after(self.not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                CA_KEY_USAGE,
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False
            )
            .sign(issuer_key, _hash_for(issuer_key))
        )

    def pem(self) -> bytes:
        """This CA's certificate, PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        common_name: str,
        *,
        key_kind: str = "rsa",
        client: bool = False,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> Identity:
        """A server (DNS/IP SANs for localhost) or client certificate signed by this CA."""
        key = new_key(key_kind)
        now = datetime.now(UTC)
        sans: list[x509.GeneralName] = [x509.DNSName(common_name)]
        if common_name == "localhost":
            import ipaddress

            sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
        certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - timedelta(hours=1))
            .not_valid_after(not_after or now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),  # type: ignore[arg-type]
                critical=False,
            )
            .sign(self.key, _hash_for(self.key))
        )
        chain = (self.certificate,) if self.parent else ()
        return Identity(certificate=certificate, key=key, chain=chain)

    def crl(
        self,
        *,
        revoked: list[Identity] | None = None,
        last_update: datetime | None = None,
        next_update: datetime | None = None,
        number: int | None = None,
    ) -> bytes:
        """A PEM CRL signed by this CA, numbered above earlier ones unless ``number`` is given."""
        now = datetime.now(UTC)
        self.crl_number = max(self.crl_number + 1, number or 0)
        if last_update is None:
            # Strictly later than the previous CRL's: OpenSSL prefers the newest thisUpdate
            # among CRLs of one issuer (a tie keeps the first one loaded).
            last_update = max(now - timedelta(minutes=5), self.last_update + timedelta(seconds=1))
            self.last_update = last_update
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(last_update)
            .next_update(next_update or now + timedelta(days=7))
            .add_extension(x509.CRLNumber(number or self.crl_number), critical=False)
        )
        for identity in revoked or []:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(identity.certificate.serial_number)
                .revocation_date(now - timedelta(minutes=1))
                .build()
            )
        return builder.sign(self.key, _hash_for(self.key)).public_bytes(serialization.Encoding.PEM)

    def write_inputs(
        self,
        directory: Path,
        identity: Identity,
        *,
        password: str | None = PASSWORD,
        key_mode: int = 0o400,
    ) -> InputFiles:
        """``ca.crt``, ``server.crt``, ``server.key`` (encrypted, ``key_mode``) in ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        files = InputFiles(directory / "ca.crt", directory / "server.crt", directory / "server.key")
        root = self
        while root.parent is not None:
            root = root.parent
        files.ca.write_bytes(root.pem())
        files.certificate.write_bytes(identity.certificate_pem())
        files.key.write_bytes(identity.key_pem(password))
        for path in (files.ca, files.certificate):
            path.chmod(0o400)
        files.key.chmod(key_mode)
        return files


def snapshot_tree(root: Path) -> dict[str, tuple[str, int, int, str]]:
    """Every path under ``root`` (hidden ones too): kind, mode, owner and content digest."""
    state: dict[str, tuple[str, int, int, str]] = {}
    for directory, subdirs, files in os.walk(root):
        for name in [*subdirs, *files]:
            path = Path(directory) / name
            info = path.lstat()
            mode = stat.S_IMODE(info.st_mode)
            if stat.S_ISDIR(info.st_mode):
                state[str(path.relative_to(root))] = ("dir", mode, info.st_uid, "")
            elif stat.S_ISLNK(info.st_mode):
                state[str(path.relative_to(root))] = ("link", mode, info.st_uid, os.readlink(path))
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                state[str(path.relative_to(root))] = ("file", mode, info.st_uid, digest)
    return state
