"""KeyAllocator: the client of a Limax-compatible key distribution service.

Works against a certward KDS node or Limax's own key server, as Limax's
``limax.key.KeyAllocator`` does::

    allocator = KeyAllocator("app1.crt", "app1.key", "kds-ca.crt")
    allocator.set_host("kds1.example.org:8444, kds2.example.org:8444")
    sent = allocator.create_key_desc("urn:prjA")        # sender: a fresh key
    got = allocator.create_key_desc(sent.ident)         # receiver: the same key back
    assert got.key == sent.key

What a client may do comes from its own certificate: the SAN DNS name is the
KDSName (the server's certificate must carry it as subject CN, and chain to
``trust``), the SAN URIs are its groups, each fragment a nonce precision.

Errors: the five Limax kinds are :class:`~certward.errors.KeyException`
subclasses (``error.type`` is a :class:`KeyExceptionType`): unrecoverable, fix the
certificates or ask the sender again. When no server answers (network, TLS, a
server with the wrong KDSName) the error is :class:`~certward.errors.ServiceUnavailable`,
which is worth a retry.

Servers are tried one after another: the hosts of :meth:`KeyAllocator.set_host`
(default: the KDSName itself on port 443, as Limax), then the "random servers" the
answers named (their raw addresses, on the port of the server that named them). A
learnt server that fails is dropped; a configured one moves to the back of the line.
Answers are cached (FIFO) by ``(timestamp, nonce, group)``; a sender's request
(timestamp -1) is served from the cache under the newest timestamp seen.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

import structlog
from cryptography import x509

from certward.client._tls import load_identity_from_memory
from certward.crypto.formats import chain_pem, load_certificates
from certward.crypto.keys import SigningKey, load_private_key
from certward.errors import (
    CertwardError,
    InvalidInput,
    KeyException,
    KeyExceptionType,
    MalformedKeyIdent,
    ServerRekeyed,
    ServiceUnavailable,
    UnsupportedURI,
    error_class_for_code,
)
from certward.kds.certs import group_uris_of_client, kds_name_of_client, kds_name_of_server
from certward.kds.ident import CURRENT_TIMESTAMP, KeyIdent, group_of, precision_ms
from certward.kds.response import KeyResponse

__all__ = [
    "DEFAULT_CACHE_CAPACITY",
    "DEFAULT_PORT",
    "DEFAULT_TIMEOUT",
    "KeyAllocator",
    "KeyDesc",
    "KeyException",
    "KeyExceptionType",
    "Source",
]

DEFAULT_PORT = 443
"""Port of a host given without one, and of the KDSName itself (Limax uses https://ip/)."""

DEFAULT_CACHE_CAPACITY = 1024
DEFAULT_TIMEOUT = 3.0
MAX_LEARNT_SERVERS = 16  # Limax keeps at most 2 x DYNAMIC_SERVERS of them

Source = str | os.PathLike[str] | bytes
"""A file path, or the file's content as bytes (PEM, or DER for a single item)."""

_log = structlog.get_logger()
_MAX_RESPONSE_BYTES = 64 * 1024
_HEADERS = {"Content-Type": "application/octet-stream", "Accept": "application/octet-stream"}


@dataclass(frozen=True, slots=True)
class KeyDesc:
    """A key and its ident: Limax's ``KeyDesc`` (``getIdent()``, ``getKey()``).

    The sender sends ``ident`` with what it signed or encrypted with ``key``; the
    receiver gets the same key back from the ident.
    """

    ident: bytes
    key: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class _Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _parse_endpoint(text: str) -> _Endpoint:
    """``host``, ``host:port``, ``[v6]``, ``[v6]:port`` or a bare IPv6 address."""
    value = text.strip()
    host, port_text = value, ""
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise InvalidInput(f"KDS host {text!r} is not host, host:port or [v6]:port")
        port_text = rest[1:]
    elif value.count(":") == 1:
        host, port_text = value.split(":")
    if not host:
        raise InvalidInput(f"KDS host {text!r} has no host name")
    if not port_text:
        return _Endpoint(host, DEFAULT_PORT)
    if not port_text.isdigit() or not 0 < int(port_text) <= 65535:
        raise InvalidInput(f"KDS host {text!r}: {port_text!r} is not a TCP port")
    return _Endpoint(host, int(port_text))


def _read_source(source: Source, what: str) -> bytes:
    if isinstance(source, bytes):
        return source
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read the {what} {source}: {exc.strerror}") from None


def _tls_context(
    chain: Sequence[x509.Certificate], key: SigningKey, trust: Sequence[x509.Certificate]
) -> ssl.SSLContext:
    """Present ``chain`` and ``key``; trust only ``trust``; no host name check (see below)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # A KDS server is known by its subject CN (the KDSName), not by the host it runs on:
    # the chain is verified here, the CN after each handshake (_KdsConnection.connect).
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=chain_pem(trust).decode("ascii"))
    load_identity_from_memory(context, chain, key)
    return context


class _ServerFailed(Exception):
    """One server could not give a key (network, TLS, identity, a refusal); try the next."""


class _KdsConnection(http.client.HTTPSConnection):
    """An HTTPS connection that accepts only a server whose certificate CN is the KDSName.

    The check sits in ``connect`` so that it also guards the reconnects http.client
    makes on its own after the server closed a keep-alive connection.
    """

    def __init__(
        self, endpoint: _Endpoint, *, context: ssl.SSLContext, timeout: float, kds_name: str
    ) -> None:
        super().__init__(endpoint.host, endpoint.port, context=context, timeout=timeout)
        self._kds_name = kds_name

    def connect(self) -> None:
        super().connect()
        assert isinstance(self.sock, ssl.SSLSocket)
        der = self.sock.getpeercert(binary_form=True)
        try:
            presented = kds_name_of_server(x509.load_der_x509_certificate(der or b""))
        except (CertwardError, ValueError):
            presented = None
        if presented is None or presented.lower() != self._kds_name.lower():
            self.close()
            shown = "no subject CN" if presented is None else f"the KDSName {presented!r}"
            raise _ServerFailed(
                f"its certificate names {shown}, not this client's KDSName {self._kds_name!r}"
            )


def _describe(error: BaseException) -> str:
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"its certificate is not trusted: {error.verify_message}"
    if isinstance(error, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return "it closed the connection during TLS (did it refuse the client certificate?)"
    if isinstance(error, ssl.SSLError):
        reason = error.reason or ""
        if "_ALERT_" in reason:
            alert = reason.split("_ALERT_", 1)[1].lower().replace("_", " ")
            return f"the TLS handshake was refused: {alert}"
        return f"TLS failed: {reason or 'handshake failed'}"
    if isinstance(error, TimeoutError):
        return "timed out"
    return str(error) or type(error).__name__


def _refusal(status: int, body: bytes) -> KeyException | None:
    """The Limax error a refusal names (certward nodes say it in their error body)."""
    if status >= 500:
        return None
    try:
        detail = json.loads(body)["error"]
        cls = error_class_for_code(str(detail["code"]))
        message = str(detail["message"])
    except (ValueError, KeyError, TypeError):
        return None
    if issubclass(cls, KeyException) and cls is not KeyException:
        return cls(f"the KDS server refused the request: {message}")
    return None


class KeyAllocator:
    """A Limax ``KeyAllocator``: keys for the groups of this client's certificate.

    cert: the client certificate (PEM, may be followed by its chain), key: its private
    key (``password`` if encrypted), trust: the CA certificate(s) the KDS servers'
    certificates must chain to. Each is a path or the content as bytes.

    Raises SubjectAltNameWithoutDNSName / SubjectAltNameWithoutURI for a certificate
    that is not a KDS client certificate. Thread-safe.
    """

    def __init__(
        self,
        cert: Source,
        key: Source,
        trust: Source,
        *,
        cache_capacity: int = DEFAULT_CACHE_CAPACITY,
        timeout: float = DEFAULT_TIMEOUT,
        password: bytes | str | None = None,
    ) -> None:
        if cache_capacity < 0:
            raise InvalidInput(f"cache capacity must be 0 or more, not {cache_capacity}")
        if timeout <= 0:
            raise InvalidInput(f"timeout must be positive, not {timeout}")
        chain = load_certificates(_read_source(cert, "client certificate"))
        secret = password.encode() if isinstance(password, str) else password
        private_key = load_private_key(_read_source(key, "client key"), password=secret)
        anchors = load_certificates(_read_source(trust, "trust file"))
        self._dns_name = kds_name_of_client(chain[0])
        # Later URIs for the same group win, as in Limax's map.
        self._uris = {group_of(uri): precision_ms(uri) for uri in group_uris_of_client(chain[0])}
        self._tls = _tls_context(chain, private_key, anchors)
        self._timeout = timeout
        self._capacity = cache_capacity
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[int, int, str], bytes] = OrderedDict()
        self._latest: int | None = None
        self._host = self._dns_name
        self._configured: list[_Endpoint] = [_Endpoint(self._dns_name, DEFAULT_PORT)]
        self._learnt: list[_Endpoint] = []
        self._idle: dict[_Endpoint, list[_KdsConnection]] = {}

    # -- Limax's public surface ------------------------------------------------------------

    def create_key_desc(self, target: str | bytes) -> KeyDesc:
        """A key for a group URI (sender) or for a received ident (receiver).

        ``str``: the sender's group URI (its fragment is ignored); UnsupportedURI if
        the group is not in this client's certificate. The ident carries the
        timestamp of the master key the server used.

        ``bytes``: an ident as received; MalformedKeyIdent if it does not decode,
        UnsupportedURI if its group is not this client's, ServerRekeyed if the
        server no longer has its master key (ask the sender to send again).
        """
        if isinstance(target, str):
            return self._for_sender(target)
        return self._for_receiver(bytes(target))

    def get_dns_name(self) -> str:
        """The KDSName: the SAN DNS name of this client's certificate."""
        return self._dns_name

    def get_uris(self) -> dict[str, int]:
        """Each group of this client's certificate and its nonce precision in milliseconds."""
        return dict(self._uris)

    def set_host(self, hosts: str) -> None:
        """The servers to ask: ``host``, ``host:port`` or several, comma-separated.

        Without a port, 443 (as Limax). A name resolving to several addresses is tried
        address by address. Replaces the default (the KDSName on port 443).
        """
        endpoints = [_parse_endpoint(part) for part in hosts.split(",") if part.strip()]
        if not endpoints:
            raise InvalidInput("set_host needs at least one host")
        with self._lock:
            self._host = hosts.strip()
            self._configured = list(dict.fromkeys(endpoints))
            self._learnt = [e for e in self._learnt if e not in self._configured]

    def get_host(self) -> str:
        """What :meth:`set_host` was given, or the KDSName by default."""
        return self._host

    # -- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the kept-alive connections (the allocator stays usable)."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"KeyAllocator(dns_name={self._dns_name!r}, host={self._host!r})"

    # -- sender and receiver ---------------------------------------------------------------

    def _for_sender(self, uri: str) -> KeyDesc:
        group = group_of(uri)
        precision = self._uris.get(group)
        if precision is None:
            raise UnsupportedURI(f"group {group!r} is not in this client's certificate")
        nonce = time.time_ns() // 1_000_000 // precision
        timestamp, key = self._allocate(KeyIdent(CURRENT_TIMESTAMP, nonce, group))
        return KeyDesc(KeyIdent(timestamp, nonce, group).encode(), key)

    def _for_receiver(self, data: bytes) -> KeyDesc:
        ident = KeyIdent.decode(data)
        if ident.group not in self._uris:
            raise UnsupportedURI(f"group {ident.group!r} is not in this client's certificate")
        timestamp, key = self._allocate(ident)
        if timestamp != ident.timestamp:
            raise ServerRekeyed(
                f"the KDS no longer has master key {ident.timestamp} (it answered with "
                f"{timestamp}); ask the sender to send the message again"
            )
        return KeyDesc(data, key)

    # -- cache and servers -----------------------------------------------------------------

    def _cached(self, ident: KeyIdent) -> tuple[int, bytes] | None:
        with self._lock:
            timestamp = self._latest if ident.timestamp == CURRENT_TIMESTAMP else ident.timestamp
            if timestamp is None:
                return None
            key = self._cache.get((timestamp, ident.nonce, ident.group))
        return None if key is None else (timestamp, key)

    def _remember(self, ident: KeyIdent, response: KeyResponse) -> None:
        with self._lock:
            self._cache[(response.timestamp, ident.nonce, ident.group)] = response.key
            while len(self._cache) > self._capacity:
                self._cache.popitem(last=False)
            if self._latest is None or response.timestamp > self._latest:
                self._latest = response.timestamp

    def _allocate(self, ident: KeyIdent) -> tuple[int, bytes]:
        cached = self._cached(ident)
        if cached is not None:
            return cached
        body = ident.encode()
        failures: list[str] = []
        for endpoint in self._candidates():
            try:
                response = self._exchange(endpoint, body)
            except _ServerFailed as failure:
                self._set_back(endpoint)
                failures.append(f"{endpoint}: {failure}")
                _log.warning("kds.server_failed", server=str(endpoint), reason=str(failure))
                continue
            self._learn(response.servers, endpoint)
            self._remember(ident, response)
            return response.timestamp, response.key
        raise ServiceUnavailable(
            f"no KDS server for {self._dns_name!r} gave a key: {'; '.join(failures)}"
        )

    def _candidates(self) -> list[_Endpoint]:
        with self._lock:
            return [*self._configured, *self._learnt]

    def _set_back(self, endpoint: _Endpoint) -> None:
        with self._lock:
            if endpoint in self._learnt:
                self._learnt.remove(endpoint)
            elif endpoint in self._configured:
                self._configured.remove(endpoint)
                self._configured.append(endpoint)

    def _learn(self, servers: Sequence[bytes], answered_by: _Endpoint) -> None:
        if not servers:
            return
        with self._lock:
            known = {*self._configured, *self._learnt, answered_by}
            for raw in servers:
                endpoint = _Endpoint(str(ipaddress.ip_address(raw)), answered_by.port)
                if endpoint not in known and len(self._learnt) < MAX_LEARNT_SERVERS:
                    self._learnt.append(endpoint)
                    known.add(endpoint)

    # -- one exchange ----------------------------------------------------------------------

    def _connection(self, endpoint: _Endpoint) -> tuple[_KdsConnection, bool]:
        with self._lock:
            idle = self._idle.get(endpoint)
            if idle:
                return idle.pop(), True
        connection = _KdsConnection(
            endpoint, context=self._tls, timeout=self._timeout, kds_name=self._dns_name
        )
        return connection, False

    def _release(self, endpoint: _Endpoint, connection: _KdsConnection) -> None:
        with self._lock:
            self._idle.setdefault(endpoint, []).append(connection)

    def _exchange(self, endpoint: _Endpoint, body: bytes) -> KeyResponse:
        """POST the ident to one server; its KeyResponse, or _ServerFailed."""
        connection, reused = self._connection(endpoint)
        try:
            status, data, reusable = self._post(connection, body)
        except _ServerFailed:
            connection.close()
            raise
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            if not reused:
                raise _ServerFailed(_describe(exc)) from None
            # The server may have closed the kept-alive connection: once more, afresh.
            return self._exchange(endpoint, body)
        if reusable:
            self._release(endpoint, connection)
        else:
            connection.close()
        if status != 200:
            refusal = _refusal(status, data)
            if refusal is not None:
                raise refusal
            raise _ServerFailed(f"it answered HTTP {status}")
        try:
            return KeyResponse.decode(data)
        except MalformedKeyIdent:
            raise _ServerFailed("its answer is not a KeyResponse") from None

    @staticmethod
    def _post(connection: _KdsConnection, body: bytes) -> tuple[int, bytes, bool]:
        connection.request("POST", "/", body=body, headers=_HEADERS)
        response = connection.getresponse()
        data = response.read(_MAX_RESPONSE_BYTES + 1)
        if len(data) > _MAX_RESPONSE_BYTES:
            raise _ServerFailed(f"its answer is longer than {_MAX_RESPONSE_BYTES} bytes")
        return response.status, data, not response.will_close
