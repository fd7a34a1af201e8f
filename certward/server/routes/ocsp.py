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
from typing import Any

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

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, extra_headers: list[tuple[bytes, bytes]]
    ) -> int:
        """Answer one request; returns the HTTP status sent."""
        method = scope["method"]
        rest = scope["path"][len(OCSP_PREFIX) :]
        if method in ("GET", "HEAD"):
            ca_name, _, encoded = rest.partition("/")
            request_der = _decoded(encoded)
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
        await _send_answer(send, answer, extra_headers, head=method == "HEAD")
        return 200

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


async def _send_answer(
    send: Send, answer: OCSPAnswer, extra: list[tuple[bytes, bytes]], *, head: bool
) -> None:
    headers = [_CONTENT_TYPE, (b"content-length", str(len(answer.der)).encode()), *extra]
    if answer.max_age is None:
        headers.append(_NO_STORE)
    else:
        # RFC 5019 6.2: let HTTP caches keep it, but no longer than we would.
        headers.append(
            (b"cache-control", f"max-age={answer.max_age}, public, no-transform".encode())
        )
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else answer.der})


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
