"""The KDS key route as a raw ASGI app: ``POST /`` with a marshalled KeyIdent, nothing else.

This is the hot path of the KDS, so it sits on plain ASGI (no framework, no
validation layer) and touches neither the database nor the disk: the master
keys come from the node's in-memory :class:`~certward.kds.masterkeys.MasterKeySet`,
the random servers from the node's last heartbeat, and what a client
certificate says (issuer, groups) is parsed once per certificate and cached.

Answers, as Limax's key server gives them:

- ``200`` ``application/octet-stream``: the marshalled ``KeyResponse``;
- ``400`` for anything else: another method or path, no client certificate, a
  client certificate without SAN DNS name or SAN URI, a body that is not a
  KeyIdent, a group the certificate does not name;
- ``413`` for a body over 4096 bytes (refused from its ``Content-Length``, or as
  soon as a chunked body passes the limit; the connection is then closed);
- ``503`` while the network has no master key yet.

Refusals carry certward's error body ``{"error": {"code", "message", "request_id"}}``
(the codes of :mod:`certward.errors`, e.g. ``kds.unsupported_uri``). The
``Content-Type`` of a request is not checked: Limax's server does not either, and
the body is a KeyIdent or it is refused. Every request is logged (event
``kds.key_request``, level info) with the peer address, the client certificate's
subject and the ident's text form, never the key.
"""

from __future__ import annotations

import itertools
import json
import secrets
import ssl
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import structlog
from cryptography import x509

from certward.errors import (
    CertwardError,
    InvalidInput,
    KeyException,
    PayloadTooLarge,
    Unauthenticated,
    UnsupportedURI,
)
from certward.kds.certs import groups_of_client, kds_name_of_client
from certward.kds.ident import MAX_IDENT_BYTES, KeyIdent
from certward.kds.masterkeys import MasterKeySet
from certward.kds.response import KeyResponse

__all__ = ["ClientFacts", "KdsApp", "client_facts"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_log = structlog.get_logger()
_OK_HEADERS = [(b"content-type", b"application/octet-stream")]
_ERROR_TYPE = (b"content-type", b"application/json")
_CLOSE = (b"connection", b"close")
# One entry per client certificate seen; a flood of distinct certificates (each of which
# must chain to a trusted CA) only empties the cache.
_MAX_CACHED_CLIENTS = 10_000


@dataclass(frozen=True, slots=True)
class ClientFacts:
    """What a key request needs from a client certificate, read once."""

    issuer_der: bytes
    groups: frozenset[str]
    subject: str


def client_facts(certificate: x509.Certificate) -> ClientFacts:
    """The issuer, groups and subject of a KDS client certificate.

    Raises SubjectAltNameWithoutDNSName / SubjectAltNameWithoutURI for a
    certificate that is not a KDS client certificate.
    """
    kds_name_of_client(certificate)  # a KDS client names its KDS; refuse one that does not
    return ClientFacts(
        issuer_der=certificate.issuer.public_bytes(),
        groups=groups_of_client(certificate),
        subject=certificate.subject.rfc4514_string(),
    )


class _Refusal(Exception):
    """A request answered with an error (status, error, and whether to close)."""

    def __init__(self, status: int, error: CertwardError, *, close: bool = False) -> None:
        super().__init__(error.message)
        self.status = status
        self.error = error
        self.close = close


class KdsApp:
    """The ASGI application of one KDS node.

    ``keys``: the node's opened master keys; ``servers``: returns the raw
    addresses of the other live nodes (read on every answer, so keep it cheap).
    """

    def __init__(
        self,
        *,
        keys: MasterKeySet,
        servers: Callable[[], tuple[bytes, ...]],
    ) -> None:
        self._keys = keys
        self._servers = servers
        # Bound once: the module's lazy proxy would build a logger on every request.
        self._log = _log.bind()
        self._clients: dict[str, ClientFacts | KeyException] = {}
        self._id_prefix = secrets.token_hex(4)
        self._ids = itertools.count(1)
        self.answered = 0
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        # Nothing to set up: the node's runtime lives outside the app (see kds.serve).
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        peer = f"{client[0]}:{client[1]}" if client else None
        subject: str | None = None
        ident_text: str | None = None
        try:
            if scope["method"] != "POST" or scope["path"] != "/":
                raise _Refusal(
                    400, InvalidInput("the key server answers POST / with a key ident only")
                )
            facts = self._client_of(scope)
            subject = facts.subject
            body = await _read_body(scope, receive)
            ident = KeyIdent.decode(body)
            ident_text = ident.text()
            if ident.group not in facts.groups:
                raise UnsupportedURI(
                    f"group {ident.group!r} is not one of the client certificate's SAN URIs"
                )
            digester = self._keys.ring.for_request(ident.timestamp)
            answer = KeyResponse(
                digester.timestamp, digester.derive(ident, facts.issuer_der), self._servers()
            ).encode()
        except _Refusal as refusal:
            await self._refuse(send, refusal, peer=peer, subject=subject, ident=ident_text)
            return
        except CertwardError as exc:
            answered = _Refusal(exc.status, exc)
            await self._refuse(send, answered, peer=peer, subject=subject, ident=ident_text)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*_OK_HEADERS, (b"content-length", b"%d" % len(answer))],
            }
        )
        await send({"type": "http.response.body", "body": answer})
        self.answered += 1
        self._log.info(
            "kds.key_request",
            peer=peer,
            subject=subject,
            ident=ident_text,
            master_key=digester.timestamp,
            result="ok",
        )

    def _client_of(self, scope: Scope) -> ClientFacts:
        tls = scope.get("extensions", {}).get("tls") or {}
        fingerprint = tls.get("certward.client_fingerprint")
        chain = tls.get("client_cert_chain")
        if not fingerprint or not chain:
            raise _Refusal(
                400, Unauthenticated("the key server needs a client certificate (mutual TLS)")
            )
        cached = self._clients.get(fingerprint)
        if cached is None:
            try:
                cached = client_facts(
                    x509.load_der_x509_certificate(ssl.PEM_cert_to_DER_cert(chain[0]))
                )
            except KeyException as exc:
                cached = exc
            if len(self._clients) >= _MAX_CACHED_CLIENTS:
                self._clients.clear()
            self._clients[fingerprint] = cached
        if isinstance(cached, KeyException):
            raise _Refusal(400, cached)
        return cached

    async def _refuse(
        self,
        send: Send,
        refusal: _Refusal,
        *,
        peer: str | None,
        subject: str | None,
        ident: str | None,
    ) -> None:
        request_id = f"{self._id_prefix}{next(self._ids):x}"
        error = refusal.error
        code = error.code
        body = json.dumps(
            {"error": {"code": code, "message": error.message, "request_id": request_id}}
        ).encode()
        headers = [_ERROR_TYPE, (b"content-length", b"%d" % len(body))]
        headers.append((b"x-request-id", request_id.encode()))
        if refusal.close:
            headers.append(_CLOSE)
        await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self.refused += 1
        self._log.info(
            "kds.key_request",
            peer=peer,
            subject=subject,
            ident=ident,
            result=code,
            status=refusal.status,
            request_id=request_id,
        )


async def _read_body(scope: Scope, receive: Receive) -> bytes:
    """The request body, refused (413, connection closed) past MAX_IDENT_BYTES."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise _Refusal(400, InvalidInput("invalid Content-Length")) from None
            if declared > MAX_IDENT_BYTES:
                raise _Refusal(413, _too_large(), close=True)
            break
    body: bytes = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Refusal(400, InvalidInput("the client went away"), close=True)
        chunk: bytes = message.get("body", b"")
        body += chunk
        if len(body) > MAX_IDENT_BYTES:
            raise _Refusal(413, _too_large(), close=True)
        if not message.get("more_body", False):
            return body


def _too_large() -> PayloadTooLarge:
    return PayloadTooLarge(f"a key ident is at most {MAX_IDENT_BYTES} bytes")
