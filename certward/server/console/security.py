"""The console's protections: who is calling, CSRF tokens, cross-site checks, secure headers.

The caller is found exactly as for the JSON API (:func:`certward.server.auth.caller`):
the browser's client certificate names a principal. Errors are the same typed errors;
the console app renders them as HTML pages.

CSRF tokens need no server-side session and are accepted by every node of a
cluster: a token is an HMAC over the caller's certificate fingerprint and the time
it was made, under a key derived (HKDF) from the keystore's master key, which every
node holds. A token is good for :data:`TOKEN_LIFETIME`, only for the certificate it
was made for, and is compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request

from certward.errors import CertwardError, CSRFRefused, Unauthenticated
from certward.keystore import Keystore
from certward.server.auth import Caller, caller, runtime_of
from certward.server.peercert import client_fingerprint

__all__ = [
    "CSP",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "TOKEN_LIFETIME",
    "ConsoleCaller",
    "CsrfChecked",
    "SecureHeaders",
    "console_caller",
    "csrf_checked",
    "csrf_token",
    "make_csrf_token",
    "secure_header_items",
    "verify_csrf_token",
]

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
CSRF_PURPOSE = "console.csrf"
TOKEN_LIFETIME = 12 * 3600  # seconds: a page left open for a working day still posts
_CLOCK_SKEW = 300  # nodes of a cluster may disagree on the time by this much
_MAC_LABEL = b"certward console csrf\x00"
_UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Sec-Fetch-Site values a form post of our own pages carries ("none": typed or bookmarked).
_SAME_SITE_FETCH = frozenset({"same-origin", "none"})

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


async def console_caller(request: Request) -> Caller:
    """The calling principal, found as for the API (401 without a certificate, 403 unknown)."""
    return await caller(request)


ConsoleCaller = Annotated[Caller, Depends(console_caller)]
"""Dependency type of a console route handler's caller argument."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _mac(key: bytes, fingerprint: str, issued: int) -> bytes:
    message = _MAC_LABEL + fingerprint.encode() + b"\x00" + str(issued).encode()
    return hmac.digest(key, message, hashlib.sha256)


def make_csrf_token(keystore: Keystore, fingerprint: str, *, now: float | None = None) -> str:
    """A token for the certificate with ``fingerprint``: ``issued.key_id.mac``."""
    key_id = keystore.primary_key_id
    issued = int(time.time() if now is None else now)
    key = keystore.derive_secret(CSRF_PURPOSE, key_id=key_id)
    return f"{issued:x}.{key_id}.{_b64(_mac(key, fingerprint, issued))}"


def verify_csrf_token(
    keystore: Keystore, fingerprint: str, token: str, *, now: float | None = None
) -> None:
    """CSRFRefused unless ``token`` was made for ``fingerprint`` and is still young enough."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 128:
        raise CSRFRefused("the form's security token is malformed; reload the page and retry")
    try:
        issued = int(parts[0], 16)
        key_id = int(parts[1])
        given = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
    except (ValueError, binascii.Error):
        raise CSRFRefused(
            "the form's security token is malformed; reload the page and retry"
        ) from None
    age = int(time.time() if now is None else now) - issued
    if age > TOKEN_LIFETIME or age < -_CLOCK_SKEW:
        raise CSRFRefused("the form's security token has expired; reload the page and retry")
    try:
        key = keystore.derive_secret(CSRF_PURPOSE, key_id=key_id)
    except CertwardError:
        # Made under a master key this keystore no longer holds (retired).
        raise CSRFRefused(
            "the form's security token has expired; reload the page and retry"
        ) from None
    if not hmac.compare_digest(given, _mac(key, fingerprint, issued)):
        raise CSRFRefused("the form's security token is not valid for this client certificate")


def csrf_token(request: Request, caller: Caller) -> str:
    """A fresh CSRF token for the caller of ``request`` (put it in every form)."""
    fingerprint = client_fingerprint(request.scope)
    if fingerprint is None:  # a caller always has one; this is for the type checker
        raise Unauthenticated("this page needs a client certificate (mutual TLS)")
    return make_csrf_token(caller.runtime.ctx.keystore, fingerprint)


def _check_origin(request: Request) -> None:
    # Defence in depth beside the token. Browsers say where a request comes from in
    # Sec-Fetch-Site; Origin is "null" for our own forms (Referrer-Policy: no-referrer
    # makes browsers hide it), so only a real origin that is not ours is refused by it.
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.lower() not in _SAME_SITE_FETCH:
        raise CSRFRefused(
            f"a form post from another site is refused (Sec-Fetch-Site: {fetch_site})"
        )
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return
    host = request.headers.get("host", "")
    parts = urlsplit(origin)
    if parts.scheme != "https" or parts.netloc.lower() != host.lower():
        raise CSRFRefused(f"a form post from another origin is refused (Origin: {origin})")


async def csrf_checked(request: Request) -> None:
    """Dependency of every state-changing console route: same origin and a valid token.

    The token comes from the form field ``csrf_token`` or the ``X-CSRF-Token`` header.
    """
    if request.method not in _UNSAFE_METHODS:
        return
    fingerprint = client_fingerprint(request.scope)
    if fingerprint is None:
        raise Unauthenticated("this page needs a client certificate (mutual TLS)")
    _check_origin(request)
    token = request.headers.get(CSRF_HEADER)
    if token is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            token = value if isinstance(value, str) else None
    if not token:
        raise CSRFRefused("the form has no security token; reload the page and retry")
    verify_csrf_token(runtime_of(request).ctx.keystore, fingerprint, token)


CsrfChecked = Annotated[None, Depends(csrf_checked)]
"""Dependency type: add an argument ``_: CsrfChecked`` to every POST handler."""


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_COMMON_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)


def secure_header_items(*, static: bool = False) -> list[tuple[str, str]]:
    """The secure headers of a console response, as (name, value) strings."""
    items = [(name.decode(), value.decode()) for name, value in _COMMON_HEADERS]
    items.append(("cache-control", "no-cache" if static else "no-store"))
    return items


class SecureHeaders:
    """ASGI middleware: the secure headers on every console response.

    Pages and downloads are never stored (``Cache-Control: no-store``); the static
    assets are revalidated (``no-cache``, with their ETag).
    """

    def __init__(self, app: ASGIApp, *, static_prefix: str = "/static/") -> None:
        self.app = app
        self.static_prefix = static_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        root = scope.get("root_path", "")
        path = scope.get("path", "")
        static = path.startswith(root + self.static_prefix)
        cache = b"no-cache" if static else b"no-store"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"cache-control"
                ]
                headers.extend(_COMMON_HEADERS)
                headers.append((b"cache-control", cache))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
