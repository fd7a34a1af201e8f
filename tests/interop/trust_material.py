"""A PKI made with the certward command, for openssl and curl to check.

    root → issuing → localhost (server: DNS:localhost, IP:127.0.0.1; its key and
                               PKCS#12 encrypted with the password in a file)
                   → alice (client)
                   → mallory (client, revoked: keyCompromise)

The issuing CA's CRL is published after the revocation, and a hash directory
holds both CA certificates and both CRLs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.cli.runner import Certward

__all__ = ["PASSWORD", "Identity", "TrustMaterial", "build_trust_material"]

PASSWORD = "interop-Pa55word-for-the-server-key"


@dataclass(frozen=True)
class Identity:
    """A certificate certward issued and the files it wrote for it."""

    serial: str
    certificate: Path
    chain: Path
    key: Path
    pkcs12: Path | None


@dataclass(frozen=True)
class TrustMaterial:
    """Everything the interop tests hand to openssl and curl."""

    certward: Certward
    root_pem: Path
    issuing_pem: Path
    hashdir: Path
    hashdir_entries: tuple[dict[str, str], ...]
    issuing_crl: Path
    server: Identity
    alice: Identity
    mallory: Identity
    password_file: Path

    def mtls_server_options(self) -> tuple[str, ...]:
        """``s_server`` options: this server identity, clients verified against the hash dir.

        ``-verify_return_error`` makes a failed client verification end the handshake
        (without it s_server only logs the error); ``-www`` answers one request and closes.
        """
        return (
            "-Verify", "2", "-verify_return_error",
            "-CApath", str(self.hashdir), "-crl_check_all",
            "-cert", str(self.server.certificate), "-cert_chain", str(self.server.chain),
            "-key", str(self.server.key), "-pass", f"file:{self.password_file}",
            "-www",
        )  # fmt: skip


def _identity(issued: dict[str, Any]) -> Identity:
    paths = issued["paths"]
    return Identity(
        serial=issued["serial"],
        certificate=Path(paths["certificate"]),
        chain=Path(paths["chain"]),
        key=Path(paths["key"]),
        pkcs12=Path(paths["pkcs12"]) if "pkcs12" in paths else None,
    )


def _write_ca_certificates(chain_file: Path, workspace: Path) -> tuple[Path, Path]:
    # CN.chain.pem is leaf, issuing, root: the trust anchors come from what certward wrote.
    _, issuing, root = x509.load_pem_x509_certificates(chain_file.read_bytes())
    root_pem, issuing_pem = workspace / "root.pem", workspace / "issuing.pem"
    root_pem.write_bytes(root.public_bytes(Encoding.PEM))
    issuing_pem.write_bytes(issuing.public_bytes(Encoding.PEM))
    return root_pem, issuing_pem


def build_trust_material(template: Certward, workspace: Path) -> TrustMaterial:
    """Copy ``template`` (root → issuing) into ``workspace`` and build the PKI above there."""
    certward = template.copy(workspace / "data")
    out = workspace / "issued"
    password_file = workspace / "password.txt"
    password_file.write_text(PASSWORD + "\n")
    server = certward.issue(
        "localhost",
        out=out,
        profile="server",
        extra=(
            "--san", "DNS:localhost", "--san", "IP:127.0.0.1",
            "--pkcs12", "--key-password-file", str(password_file),
        ),
    )  # fmt: skip
    alice = certward.issue("alice", out=out)
    mallory = certward.issue("mallory", out=out)
    certward.run("cert", "revoke", mallory["serial"], "--reason", "keyCompromise")
    issuing_crl = workspace / "issuing.crl.pem"
    certward.run("crl", "publish", "--ca", "issuing", "--out", issuing_crl)
    hashdir = workspace / "hashdir"
    synced = certward.json("hashdir", "sync", hashdir, "--ca", "root", "--ca", "issuing", "--crl")
    root_pem, issuing_pem = _write_ca_certificates(Path(server["paths"]["chain"]), workspace)
    return TrustMaterial(
        certward=certward,
        root_pem=root_pem,
        issuing_pem=issuing_pem,
        hashdir=hashdir,
        hashdir_entries=tuple(synced["entries"]),
        issuing_crl=issuing_crl,
        server=_identity(server),
        alice=_identity(alice),
        mallory=_identity(mallory),
        password_file=password_file,
    )
