"""Put the client certificate of each TLS connection into the ASGI scope.

uvicorn does not fill the ASGI TLS extension; this protocol reads the peer
certificate once per connection (after the handshake) and adds
``scope["extensions"]["tls"]`` to every request on it, with the certificate's
SHA-256 fingerprint precomputed for the principal lookup.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from cryptography.hazmat.primitives import hashes
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["TLSScopeProtocol", "client_fingerprint"]


def _fingerprint(der: bytes) -> str:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return digest.finalize().hex()


class TLSScopeProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus the ASGI TLS extension."""

    _tls: dict[str, Any] | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object: ssl.SSLObject | None = transport.get_extra_info("ssl_object")
        if ssl_object is None:
            self._tls = None
            return
        der = ssl_object.getpeercert(binary_form=True)
        version = ssl_object.version()
        self._tls = {
            "server_cert": None,
            "client_cert_chain": [ssl.DER_cert_to_PEM_cert(der)] if der else [],
            "client_cert_name": None,
            "client_cert_error": None,
            "tls_version": {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}.get(version or ""),
            "cipher_suite": None,
            "certward.client_fingerprint": _fingerprint(der) if der else None,
        }

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._tls is not None:
            self.scope["extensions"] = {"tls": self._tls}  # type: ignore[dict-item]


def client_fingerprint(scope: Any) -> str | None:
    """The SHA-256 fingerprint (hex) of the client certificate of this request, if any."""
    tls = scope.get("extensions", {}).get("tls")
    if not tls:
        return None
    value = tls.get("certward.client_fingerprint")
    return value if isinstance(value, str) else None
