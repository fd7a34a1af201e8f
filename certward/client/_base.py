"""What ``Client`` and ``AsyncClient`` share: construction, the TLS identity, the base URL."""

from __future__ import annotations

import ssl
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Generic, Self, TypeVar

import httpx

from certward.client._exchange import base_urls, bundle_context, http_options, tls_context
from certward.client._tls import StrPath

__all__ = ["DEFAULT_RETRIES", "DEFAULT_TIMEOUT", "ClientBase"]

DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 2
H = TypeVar("H", httpx.Client, httpx.AsyncClient)


class ClientBase(ABC, Generic[H]):
    """A certward server, reached over mutual TLS.

    url: ``https://host:port`` of the server; or several (a sequence, or one string with
        commas) of a cluster: a call that cannot reach one, or gets 503 from it, moves on
        to the next (calls that change something carry an Idempotency-Key, so a retry is
        never carried out twice).
    cert, key: the client certificate (PEM, leaf first, may hold the chain) and its key;
        without them only the public routes (CA certificates, CRLs) answer.
    ca: the trust anchor that verifies the server (e.g. ``admin/ca.crt``).
    ssl_context: instead of cert/key/ca, a ready ``ssl.SSLContext``.
    timeout: seconds for connecting, and for each read and write.
    retries: extra rounds over the servers after connection failures.
    """

    def __init__(
        self,
        url: str | Sequence[str],
        *,
        cert: StrPath | None = None,
        key: StrPath | None = None,
        ca: StrPath | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
    ) -> None:
        context = tls_context(cert=cert, key=key, ca=ca, ssl_context=ssl_context)
        self._pool: list[H] = [
            self._open(http_options(each, context, timeout)) for each in base_urls(url)
        ]
        self._current = 0  # the server calls go to first; moves on when one fails
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
        url: str | Sequence[str],
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
    def _http(self) -> H:
        return self._pool[self._current]

    @property
    def url(self) -> str:
        """The base URL of the server calls go to now."""
        return str(self._http.base_url).rstrip("/")

    @property
    def urls(self) -> tuple[str, ...]:
        """Every server of this client, in order."""
        return tuple(str(http.base_url).rstrip("/") for http in self._pool)

    def _fail_over(self) -> None:
        self._current = (self._current + 1) % len(self._pool)
