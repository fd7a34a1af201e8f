"""The service's TLS: server identity, client-certificate trust with CRLs, live reload.

OpenSSL caches the CRLs an ``SSLContext`` has loaded, so a new revocation is
applied by building a fresh context and swapping it in: the listening socket
keeps a *base* context whose SNI callback (which OpenSSL runs on every
ClientHello, with or without a server name) moves each new connection onto the
current context. Handshakes already done are not affected; the next one uses
the new CRL.
"""

from __future__ import annotations

import ssl
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certward.crypto.formats import crl_pem

__all__ = ["MODERN_CIPHERS", "ReloadableTLS", "TLSMaterial", "build_server_context"]

# TLS 1.2 suites with forward secrecy and AEAD only (TLS 1.3 suites are fixed by OpenSSL).
MODERN_CIPHERS = ":".join(
    [
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ]
)


@dataclass(frozen=True)
class TLSMaterial:
    """Everything a server context is built from."""

    certificate_chain_pem: bytes
    private_key_pem: bytes
    trusted_cas: tuple[x509.Certificate, ...]
    crls_der: tuple[bytes, ...]
    check_crls: bool = True


def _pem_file(directory: Path, name: str, data: bytes) -> Path:
    path = directory / name
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def build_server_context(material: TLSMaterial) -> ssl.SSLContext:
    """A TLS 1.2+ server context that asks for (but does not require) a client certificate.

    A client certificate that is presented must chain to ``trusted_cas`` and,
    with ``check_crls``, not be revoked by any CA in its chain: otherwise the
    handshake fails with OpenSSL's alert ("unknown ca", "certificate revoked").
    Routes decide which requests need a certificate at all.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(MODERN_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.options |= ssl.OP_CIPHER_SERVER_PREFERENCE
    context.verify_mode = ssl.CERT_OPTIONAL
    # ssl wants files for the key and for CRLs; they live only for this call, 0600, in a
    # private temporary directory.
    with tempfile.TemporaryDirectory(prefix="certward-tls-") as tmp:
        directory = Path(tmp)
        chain = _pem_file(directory, "chain.pem", material.certificate_chain_pem)
        key = _pem_file(directory, "key.pem", material.private_key_pem)
        context.load_cert_chain(chain, key)
        trust = b"".join(ca.public_bytes(serialization.Encoding.PEM) for ca in material.trusted_cas)
        if material.check_crls:
            trust += b"".join(crl_pem(der) for der in material.crls_der)
            context.verify_flags |= ssl.VERIFY_CRL_CHECK_CHAIN
        context.load_verify_locations(cafile=_pem_file(directory, "trust.pem", trust))
    # The names of the trusted CAs go into the CertificateRequest, so clients (browsers,
    # curl with several identities) can pick the right certificate.
    return context


class ReloadableTLS:
    """A base context for the listening socket plus the current context new handshakes use."""

    def __init__(
        self,
        material: TLSMaterial,
        *,
        build: Callable[[TLSMaterial], ssl.SSLContext] = build_server_context,
    ) -> None:
        self._build = build  # the KDS adds its revocation policy to certward's contexts
        self._lock = threading.Lock()
        self._current = build(material)
        self.base = build(material)
        self.base.sni_callback = self._select
        self.generation = 0

    def _select(
        self, connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext
    ) -> None:
        connection.context = self._current

    def replace(self, material: TLSMaterial) -> None:
        """Build a context from ``material`` and use it for every handshake from now on."""
        context = self._build(material)
        with self._lock:
            self._current = context
            self.generation += 1
