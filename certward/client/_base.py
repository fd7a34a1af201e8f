"""What ``Client`` and ``AsyncClient`` share: construction, the TLS identity, the base URL."""

from __future__ import annotations

import ssl
from abc import ABC, abstractmethod
from typing import Any, Generic, Self, TypeVar

import httpx

from certward.client._exchange import bundle_context, http_options, tls_context
from certward.client._tls import StrPath

__all__ = ["DEFAULT_RETRIES", "DEFAULT_TIMEOUT", "ClientBase"]

DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 2
H = TypeVar("H", httpx.Client, httpx.AsyncClient)


class ClientBase(ABC, Generic[H]):
    """A certward server, reached over mutual TLS.

    url: ``https://host:port`` of the server.
    cert, key: the client certificate (PEM, leaf first, may hold the chain) and its key;
        without them only the public routes (CA certificates, CRLs) answer.
    ca: the trust anchor that verifies the server (e.g. ``admin/ca.crt``).
    ssl_context: instead of cert/key/ca, a ready ``ssl.SSLContext``.
    timeout: seconds for connecting, and for each read and write.
    retries: extra attempts of a GET after a connection failure (POSTs are sent once).
    """

    def __init__(
        self,
        url: str,
        *,
        cert: StrPath | None = None,
        key: StrPath | None = None,
        ca: StrPath | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
    ) -> None:
        context = tls_context(cert=cert, key=key, ca=ca, ssl_context=ssl_context)
        self._http: H = self._open(http_options(url, context, timeout))
        self._retries = retries

    @staticmethod
    @abstractmethod
    def _open(options: dict[str, Any]) -> H:
        """The httpx client to send with."""

    @classmethod
    def from_bundle(
        cls,
        p12_path: StrPath,
        password: str | bytes,
        *,
        url: str,
        ca: StrPath | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
    ) -> Self:
        """A client presenting the identity in a PKCS#12 file (e.g. ``admin/admin.p12``).

        ca: the trust anchor for the server; default: the root certificate in the bundle.
        """
        context = bundle_context(p12_path, password, ca=ca)
        return cls(url, ssl_context=context, timeout=timeout, retries=retries)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return str(self._http.base_url).rstrip("/")
