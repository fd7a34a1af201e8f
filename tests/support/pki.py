"""A trustme-like helper over certward itself: a root, an issuing CA, certificates on demand."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from certward.ca.authority import ca_chain, create_ca
from certward.ca.context import CAContext
from certward.ca.factory import IssuedCertificate
from certward.ca.issue import issue_certificate
from certward.crypto.formats import certificate_pem, chain_pem
from certward.crypto.keys import KeyType, private_key_to_pkcs8


@dataclass
class PKI:
    """``root`` → ``issuing``; issue server and client certificates from ``issuing``."""

    context: CAContext
    root: str = "root"
    issuing: str = "issuing"

    @classmethod
    def create(cls, context: CAContext, *, key_type: KeyType = KeyType.EC_P256) -> PKI:
        create_ca(
            context, name="root", subject="/CN=Test Root CA/O=certward tests", key_type=key_type
        )
        create_ca(
            context,
            name="issuing",
            subject="/CN=Test Issuing CA/O=certward tests",
            parent="root",
            key_type=key_type,
        )
        return cls(context)

    def issue_server(
        self, name: str = "localhost", *, sans: tuple[str, ...] = ()
    ) -> IssuedCertificate:
        return issue_certificate(
            self.context,
            ca_name=self.issuing,
            profile="server",
            common_name=name,
            sans=sans or (f"DNS:{name}", "IP:127.0.0.1"),
        )

    def issue_client(self, name: str = "client") -> IssuedCertificate:
        return issue_certificate(
            self.context, ca_name=self.issuing, profile="client", common_name=name
        )

    def write_root(self, path: Path) -> Path:
        """The root certificate as PEM (a trust anchor for openssl -CAfile)."""
        path.write_bytes(certificate_pem(ca_chain(self.context, self.root)[0]))
        return path


def write_identity(
    issued: IssuedCertificate, directory: Path, stem: str
) -> tuple[Path, Path, Path]:
    """Write ``stem.crt``, ``stem.key`` and ``stem.chain.pem``; return their paths."""
    assert issued.private_key is not None
    cert = directory / f"{stem}.crt"
    key = directory / f"{stem}.key"
    chain = directory / f"{stem}.chain.pem"
    cert.write_bytes(certificate_pem(issued.certificate))
    key.write_bytes(private_key_to_pkcs8(issued.private_key))
    key.chmod(0o600)
    chain.write_bytes(chain_pem(issued.full_chain))
    return cert, key, chain


__all__ = ["PKI", "serialization", "write_identity"]
