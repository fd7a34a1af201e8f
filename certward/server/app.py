"""The ASGI application: a thin outer layer in front of the FastAPI routes.

The outer layer does what every request needs and nothing more: a request id
(the client's ``X-Request-ID`` if sane, else a new one) on every response, the
body size limit and content type check, HSTS, metrics, and ``GET /health``
answered without touching the router (it is polled often and must be cheap).
Errors are rendered in one place, :func:`error_response`, as
``{"error": {"code", "message", "request_id"}}``; no traceback reaches a client.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from certward import __version__
from certward.access.idempotency import (
    IdempotencyClaim,
    IdempotentReplay,
    parse_key,
    request_fingerprint,
    store_answer,
)
from certward.ca.ocsp import OCSPResponder
from certward.errors import CertwardError, PayloadTooLarge, RateLimited, UnsupportedMediaType
from certward.server.auth import replayed_answer
from certward.server.console import CONSOLE_PREFIX, create_console_app
from certward.server.lean_route import FastPath
from certward.server.limits import RateLimiter
from certward.server.metrics import ServiceMetrics
from certward.server.peercert import client_fingerprint
from certward.server.routes import (
    acme_admin,
    audit,
    cas,
    certificates,
    events,
    jobs,
    kms,
    kms_operations,
    principals,
    public,
    slots,
)
from certward.server.routes.acme import ACME_PREFIX, AcmeApp
from certward.server.routes.ocsp import OCSP_PREFIX, OCSPApp
from certward.server.routes.redfish import REDFISH_PREFIX, create_redfish_app
from certward.server.runtime import ServerRuntime
from certward.server.schemas import ErrorDetail
from certward.server.worker_threads import blocking

__all__ = ["ServiceApp", "create_app", "error_response"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_log = structlog.get_logger()
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_HSTS = (b"strict-transport-security", b"max-age=31536000")
_JSON = (b"content-type", b"application/json")
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# The web console's form posts (the only bodies that are not JSON).
_FORM_TYPES = frozenset({b"application/x-www-form-urlencoded", b"multipart/form-data"})
_HEALTHY = b'{"status":"healthy"}'
_UNHEALTHY = b'{"status":"unhealthy"}'
_HEALTHY_HEADERS = (_JSON, (b"content-length", str(len(_HEALTHY)).encode()), _HSTS)
_UNHEALTHY_HEADERS = (_JSON, (b"content-length", str(len(_UNHEALTHY)).encode()), _HSTS)


_ERROR_SCHEMAS: dict[str, Any] = {
    "ErrorDetail": {**ErrorDetail.model_json_schema(), "additionalProperties": False},
    "ErrorBody": {
        "type": "object",
        "title": "ErrorBody",
        "required": ["error"],
        "additionalProperties": False,
        "properties": {"error": {"$ref": "#/components/schemas/ErrorDetail"}},
    },
}


def error_response(status: int, code: str, message: str, request_id: str | None) -> JSONResponse:
    """The one shape every error takes on the wire."""
    return JSONResponse(
        {"error": {"code": code, "message": message, "request_id": request_id}}, status_code=status
    )


def _request_id(scope: Scope) -> str | None:
    value = scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


def _install_error_handlers(api: FastAPI) -> None:
    @api.exception_handler(CertwardError)
    async def _certward(request: Request, exc: CertwardError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, _request_id(request.scope))

    api.add_exception_handler(IdempotentReplay, replayed_answer)

    @api.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        if first.get("type") == "json_invalid":
            message = "the request body is not valid JSON"
        else:
            where = ".".join(str(part) for part in first.get("loc", ()) if part != "body")
            message = f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
        return error_response(400, "input.invalid", message, _request_id(request.scope))

    @api.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http.error")
        message = str(exc.detail) if exc.detail else "request failed"
        response = error_response(exc.status_code, code, message, _request_id(request.scope))
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @api.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        _log.error(
            "request.failed",
            request_id=_request_id(request.scope),
            error=type(exc).__name__,
            exc_info=exc,
        )
        return error_response(500, "internal", "internal error", _request_id(request.scope))


def _api(runtime: ServerRuntime, metrics: ServiceMetrics) -> FastAPI:
    api = FastAPI(
        title="certward",
        version=__version__,
        description=(
            "A self-hosted trust service. Every /v1 route needs a client certificate "
            "(mutual TLS) that belongs to a principal with a fitting grant."
        ),
        docs_url=None,
        redoc_url=None,
    )
    api.state.runtime = runtime
    api.state.metrics = metrics
    _install_error_handlers(api)
    api.include_router(certificates.hot_router)
    for module in (
        public,
        cas,
        certificates,
        principals,
        audit,
        kms_operations,
        kms,
        acme_admin,
        slots,
        jobs,
        events,
    ):
        api.include_router(module.router)
    # Redfish is an application of its own: its errors have the Redfish shape.
    api.mount(REDFISH_PREFIX, create_redfish_app(runtime))
    # The web console: HTML pages and form posts (a sub-app: not in the API's schema).
    api.mount(CONSOLE_PREFIX, create_console_app(runtime))
    _document_errors(api)
    return api


def _document_errors(api: FastAPI) -> None:
    """Make the schema tell the truth about errors: one ErrorBody shape for every one.

    FastAPI documents a 422 HTTPValidationError that certward never sends (bad
    input is 400 ``input.invalid``; 422 is a policy refusal). Every operation gets
    ``default: ErrorBody`` instead, and its 422 is an ErrorBody too.
    """
    build = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is not None:
            return api.openapi_schema
        document = build()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        components.update(
            {name: model for name, model in _ERROR_SCHEMAS.items() if name not in components}
        )
        error = {
            "description": "Error (the same shape for every status)",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}},
        }
        for methods in document.get("paths", {}).values():
            for operation in methods.values():
                responses = operation.setdefault("responses", {})
                if "422" in responses:
                    responses["422"] = {**error, "description": "Refused by policy"}
                responses["default"] = error
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        api.openapi_schema = document
        return document

    api.openapi = openapi  # type: ignore[method-assign]


class ServiceApp:
    """The outer ASGI layer (see the module docstring)."""

    def __init__(self, runtime: ServerRuntime, metrics: ServiceMetrics, api: FastAPI) -> None:
        self.runtime = runtime
        self.metrics = metrics
        self.api = api
        self.max_body = runtime.settings.max_body_bytes
        settings = runtime.settings
        self.limiter = (
            RateLimiter(rate=settings.rate_limit_per_second, burst=settings.rate_limit_burst)
            if settings.rate_limit_per_second > 0
            else None
        )
        # The hot KMS and issuance routes skip FastAPI's stack.
        self.fast = FastPath(api, kms_operations.router, certificates.hot_router)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._id_prefix = os.urandom(6).hex() + "-"
        self.ocsp = OCSPApp(
            OCSPResponder(
                runtime.ctx,
                runtime.ctx.settings.ocsp,
                poll_seconds=runtime.settings.revocation_poll_seconds,
            ),
            metrics.registry,
        )
        acme_enabled = runtime.ctx.settings.acme.enabled
        self.acme = AcmeApp(runtime, metrics.registry) if acme_enabled else None
        self._ids = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.api(scope, receive, send)
            return
        request_id = self._assign_request_id(scope)
        started = time.perf_counter()
        if scope["path"] == "/health" and scope["method"] in ("GET", "HEAD"):
            # The hot, unauthenticated probe: no router, no wrapper, headers made once.
            status = await self._health(send, request_id)
            self._observe(scope["method"], "/health", status, started)
            return
        if scope["path"].startswith(OCSP_PREFIX):
            # Unauthenticated and hot as well; binary bodies, OCSP's own error statuses.
            status = await self.ocsp(
                scope, receive, send, [(b"x-request-id", request_id.encode()), _HSTS]
            )
            self._observe(scope["method"], "/ocsp/{ca}", status, started)
            return
        if self.acme is not None and scope["path"].startswith(ACME_PREFIX):
            # JWS bodies (application/jose+json) and RFC 8555 problem documents.
            status = await self.acme(
                scope, receive, send, [(b"x-request-id", request_id.encode()), _HSTS]
            )
            self._observe(scope["method"], "/acme/{ca}", status, started)
            return
        status_seen: list[int] = []
        # For an Idempotency-Key request the answer is held back until it is stored:
        # a client that has the answer must find it stored when it retries.
        held: list[Message] | None = None

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                headers.append(_HSTS)
                message["headers"] = headers
                status_seen.append(message["status"])
            if held is None:
                await send(message)
                return
            held.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                body = b"".join(m.get("body", b"") for m in held[1:])
                await self._store_answer(scope, request_id, status_seen, body)
                for kept in held:
                    await send(kept)

        try:
            if self.limiter is not None:
                self._check_rate(scope)
            body = await self._checked_body(scope, receive)
            if _idempotency_claim(scope, body) is not None:
                held = []
            answer = self.fast.match(scope) or self.api
            await answer(scope, _replay(body, receive), send_with_headers)
        except RateLimited as exc:
            retry = ((b"retry-after", exc.retry_after.encode()),)
            await _send_error(send_with_headers, exc, request_id, retry)
        except CertwardError as exc:
            await _send_error(send_with_headers, exc, request_id)
        route = scope.get("route")
        label = getattr(route, "path", None) or (
            "/metrics" if scope["path"] == "/metrics" else "unmatched"
        )
        self._observe(scope["method"], label, status_seen[0] if status_seen else 0, started)

    async def _store_answer(
        self, scope: Scope, request_id: str, status_seen: list[int], body: bytes
    ) -> None:
        # Set by Caller.audited when the request stored its key with a change; routes that
        # change nothing (or the KMS fast path) never pay for a write here.
        principal = scope.get("state", {}).get("idempotency_principal")
        if not status_seen or not 200 <= status_seen[0] < 300 or not isinstance(principal, str):
            return
        try:
            await blocking(
                store_answer,
                self.runtime.ctx,
                principal=principal,
                request_id=request_id,
                status=status_seen[0],
                body=body,
            )
        except CertwardError as exc:
            # The change is committed and answered; a retry will get 409 in_progress instead.
            _log.warning("idempotent answer not stored", request_id=request_id, code=exc.code)

    def _observe(self, method: str, route: str, status: int, started: float) -> None:
        # prometheus' labels() costs a lock and a tuple per call: keep the children.
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = (
                self.metrics.requests.labels(method, route, str(status)),
                self.metrics.latency.labels(route),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(time.perf_counter() - started)

    def _check_rate(self, scope: Scope) -> None:
        assert self.limiter is not None
        caller = client_fingerprint(scope)
        if caller is None:
            client = scope.get("client")
            caller = f"address:{client[0]}" if client else "address:?"
        wait = self.limiter.acquire(caller)
        if wait is not None:
            retry_after = RateLimiter.retry_after(wait)
            raise RateLimited(
                f"too many requests from this client; retry in {retry_after} s", retry_after
            )

    def _assign_request_id(self, scope: Scope) -> str:
        given: str | None = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                given = value.decode("latin-1")
                break
        request_id: str
        if given and _REQUEST_ID.match(given):
            request_id = given
        else:
            # A random per-process prefix and a counter: unique, and far cheaper than uuid4.
            request_id = f"{self._id_prefix}{next(self._ids):x}"
        scope.setdefault("state", {})["request_id"] = request_id
        return request_id

    async def _health(self, send: Send, request_id: str) -> int:
        healthy = self.runtime.healthy
        status, headers = (200, _HEALTHY_HEADERS) if healthy else (503, _UNHEALTHY_HEADERS)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*headers, (b"x-request-id", request_id.encode())],
            }
        )
        await send({"type": "http.response.body", "body": _HEALTHY if healthy else _UNHEALTHY})
        return status

    async def _checked_body(self, scope: Scope, receive: Receive) -> bytes:
        if scope["method"] not in _BODY_METHODS:
            return b""
        headers = dict(scope.get("headers", ()))
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            raise PayloadTooLarge(f"request body larger than {self.max_body} bytes")
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise PayloadTooLarge(f"request body larger than {self.max_body} bytes")
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if body and content_type != b"application/json":
            console = scope["path"].startswith(CONSOLE_PREFIX + "/")
            if not (console and content_type in _FORM_TYPES):
                raise UnsupportedMediaType("request bodies must be application/json")
        return body


_IDEMPOTENT_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _idempotency_claim(scope: Scope, body: bytes) -> IdempotencyClaim | None:
    """The request's Idempotency-Key with its fingerprint (in scope state), or None."""
    if scope["method"] not in _IDEMPOTENT_METHODS:
        return None
    for name, value in scope.get("headers", ()):
        if name == b"idempotency-key":
            key = parse_key(value.decode("latin-1"))
            fingerprint = request_fingerprint(
                scope["method"], scope["path"], scope.get("query_string", b""), body
            )
            claim = IdempotencyClaim(key=key, fingerprint=fingerprint)
            scope.setdefault("state", {})["idempotency"] = claim
            return claim
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_error(
    send: Send,
    exc: CertwardError,
    request_id: str,
    extra_headers: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    body = json.dumps(
        {"error": {"code": exc.code, "message": exc.message, "request_id": request_id}}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": exc.status,
            "headers": [_JSON, (b"content-length", str(len(body)).encode()), *extra_headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app(runtime: ServerRuntime) -> ServiceApp:
    """The full application for ``runtime``."""
    metrics = ServiceMetrics(runtime.ctx)
    runtime.metrics = metrics
    return ServiceApp(runtime, metrics, _api(runtime, metrics))
