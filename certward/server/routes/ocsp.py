"""``/ocsp/<ca>``: the unauthenticated OCSP responder over HTTP (RFC 6960 appendix A, RFC 5019).

``GET /ocsp/<ca>/<base64 of the DER request>`` (URL-encoded or not) and
``POST /ocsp/<ca>`` with an ``application/ocsp-request`` body. A plain ASGI
handler, not a FastAPI route: it is the hottest public path, and a cached
answer costs one dictionary lookup here. Every answer is HTTP 200 with an
``application/ocsp-response`` body, errors included (their OCSP status says
what went wrong), except a wrong method (405) or a body too large (413).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeVar

import structlog
from prometheus_client import CollectorRegistry, Counter

from certward.ca.ocsp import INTERNAL_ERROR, MALFORMED, OCSPAnswer, OCSPResponder
from certward.server.worker_threads import blocking

__all__ = ["OCSP_PREFIX", "OCSPApp"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_log = structlog.get_logger()
OCSP_PREFIX = "/ocsp/"
# A request for one certificate is ~100 bytes; with a signature and chain a few KiB.
MAX_REQUEST_BYTES = 16 * 1024
_CONTENT_TYPE = (b"content-type", b"application/ocsp-response")
_NO_STORE = (b"cache-control", b"no-store")
# A request for one certificate without a nonce is ~100 characters in a path; memos
# of at most this many entries of at most this length stay well under a megabyte.
_MEMO_ENTRIES = 1024
_MEMO_PATH = 512
K = TypeVar("K")
V = TypeVar("V")


class OCSPApp:
    """The ASGI handler of ``/ocsp/...``; the outer layer adds the request id and HSTS."""

    def __init__(self, responder: OCSPResponder, registry: CollectorRegistry | None) -> None:
        self.responder = responder
        self._answers = (
            Counter(
                "certward_ocsp_responses_total",
                "OCSP answers by CA status or OCSP error status",
                ["outcome"],
                registry=registry,
            )
            if registry is not None
            else None
        )
        self._children: dict[str, Any] = {}
        # Hot-path memos (bounded): the decoded request of a GET path seen before, and the
        # header lines of a cached answer (kept with the answer, so an id is never reused).
        self._requests: dict[str, tuple[str, bytes]] = {}
        self._headers: dict[int, tuple[OCSPAnswer, list[tuple[bytes, bytes]]]] = {}

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, extra_headers: list[tuple[bytes, bytes]]
    ) -> int:
        """Answer one request; returns the HTTP status sent."""
        method = scope["method"]
        rest = scope["path"][len(OCSP_PREFIX) :]
        request_der: bytes | None
        if method in ("GET", "HEAD"):
            known = self._requests.get(rest)
            if known is not None:
                ca_name, request_der = known
            else:
                ca_name, _, encoded = rest.partition("/")
                request_der = _decoded(encoded)
                if request_der is not None and len(rest) <= _MEMO_PATH:
                    _remember(self._requests, rest, (ca_name, request_der))
        elif method == "POST":
            ca_name = rest
            request_der = await _body(receive)
            if request_der is None:
                return await _plain(send, 413, b"request too large", extra_headers)
        else:
            return await _plain(send, 405, b"use GET or POST", extra_headers)
        if request_der is None or not ca_name or "/" in ca_name:
            answer = MALFORMED
        else:
            cached = self.responder.cached(ca_name, request_der)
            answer = cached or await self._respond(ca_name, request_der)
        self._count(answer)
        headers = [*self._answer_headers(answer), *extra_headers]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else answer.der})
        return 200

    def _answer_headers(self, answer: OCSPAnswer) -> list[tuple[bytes, bytes]]:
        """Content type, length and caching of ``answer`` (made once per cached answer)."""
        known = self._headers.get(id(answer))
        if known is not None and known[0] is answer:
            return known[1]
        headers = [_CONTENT_TYPE, (b"content-length", str(len(answer.der)).encode())]
        if answer.max_age is None:
            headers.append(_NO_STORE)
        else:
            # RFC 5019 6.2: let HTTP caches keep it, but no longer than we would.
            cache = f"max-age={answer.max_age}, public, no-transform"
            headers.append((b"cache-control", cache.encode()))
        _remember(self._headers, id(answer), (answer, headers))
        return headers

    async def _respond(self, ca_name: str, request_der: bytes) -> OCSPAnswer:
        try:
            return await blocking(self.responder.respond, ca_name, request_der)
        except Exception as exc:  # never a 500: OCSP has its own status for this
            _log.error("ocsp.failed", ca=ca_name, error=type(exc).__name__, exc_info=exc)
            return INTERNAL_ERROR

    def _count(self, answer: OCSPAnswer) -> None:
        if self._answers is None:
            return
        child = self._children.get(answer.outcome)
        if child is None:
            child = self._children[answer.outcome] = self._answers.labels(answer.outcome.value)
        child.inc()


def _remember(memo: dict[K, V], key: K, value: V) -> None:
    if len(memo) >= _MEMO_ENTRIES:  # a client making up requests cannot grow it without end
        memo.clear()
    memo[key] = value


def _decoded(encoded: str) -> bytes | None:
    # The path arrives percent-decoded; some clients leave '/' and '+' as they are.
    text = encoded.strip()
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return data if 0 < len(data) <= MAX_REQUEST_BYTES else None


async def _body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_REQUEST_BYTES:
            return None
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _plain(send: Send, status: int, text: bytes, extra: list[tuple[bytes, bytes]]) -> int:
    headers = [
        (b"content-type", b"text/plain"),
        (b"content-length", str(len(text)).encode()),
        *extra,
    ]
    if status == 405:
        headers.append((b"allow", b"GET, HEAD, POST"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text})
    return status
