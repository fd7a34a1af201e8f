"""One exchange with the server, minus the I/O: retry policy, answers and failures as values.

``Client`` and ``AsyncClient`` differ only in how they send and sleep; everything
they decide (retry or not, which error to raise) is decided here, once.
"""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx

from certward import __version__
from certward.client._calls import Call
from certward.client._tls import StrPath, context_from_files, context_from_pkcs12
from certward.errors import (
    AccessDenied,
    CertwardError,
    Conflict,
    InvalidInput,
    MalformedData,
    NotFound,
    PayloadTooLarge,
    PolicyViolation,
    ServiceUnavailable,
    Unauthenticated,
    UnsupportedMediaType,
    error_class_for_code,
)

__all__ = [
    "USER_AGENT",
    "answer",
    "attempts_for",
    "base_url",
    "base_urls",
    "bundle_context",
    "call_headers",
    "failover_status",
    "http_options",
    "pause_after",
    "retry_delay",
    "tls_context",
    "transport_failure",
]

T = TypeVar("T")
USER_AGENT = f"certward-client/{__version__}"
# Backoff between attempts of an idempotent call: 0.1 s, 0.2 s, 0.4 s … at most 2 s.
_FIRST_DELAY = 0.1
_MAX_DELAY = 2.0
# A code the server sent that this version does not know still lands in the right family.
_FAMILY_BY_STATUS: dict[int, type[CertwardError]] = {
    400: InvalidInput,
    401: Unauthenticated,
    403: AccessDenied,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: PolicyViolation,
    503: ServiceUnavailable,
}
# TLS alerts by which a server says "not with that certificate" (revoked, unknown CA, …).
_IDENTITY_ALERTS = frozenset(
    {
        "access denied",
        "bad certificate",
        "certificate expired",
        "certificate required",
        "certificate revoked",
        "certificate unknown",
        "unknown ca",
        "unsupported certificate",
    }
)


# Failures that can strike once the request is on the wire: its outcome is unknown.
_AFTER_SENDING = (httpx.ReadError, httpx.ReadTimeout, httpx.RemoteProtocolError)


def base_url(url: str) -> str:
    """``url`` checked to be an ``https://host[:port]`` base, without a trailing slash."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise InvalidInput(f"server URL {url!r} is not a URL: {exc}") from None
    if parsed.scheme != "https" or not parsed.host:
        raise InvalidInput(f"server URL {url!r} must look like https://host:port")
    return str(parsed).rstrip("/")


def base_urls(url: str | Sequence[str]) -> list[str]:
    """The servers of a client: one URL, a comma-separated list, or a sequence; each checked."""
    given = url.split(",") if isinstance(url, str) else list(url)
    urls = [base_url(item.strip()) for item in given if item.strip()]
    if not urls:
        raise InvalidInput("a client needs at least one server URL")
    return urls


def call_headers(call: Call[Any]) -> tuple[str, dict[str, str]]:
    """The request id of a call and the headers every attempt of it sends.

    A call that is not idempotent carries a fresh ``Idempotency-Key``: the server
    stores it with the change, so a retry (to this server or another) is answered
    with the first answer instead of being carried out again.
    """
    request_id = uuid.uuid4().hex
    headers = {"x-request-id": request_id}
    if not call.idempotent:
        headers["idempotency-key"] = f"cw-{uuid.uuid4().hex}"
    return request_id, headers


def attempts_for(retries: int, servers: int = 1) -> int:
    """How many times to try a call: 1 + retries rounds over every server.

    Calls that are not idempotent are retried too: they carry an Idempotency-Key.
    """
    return (1 + max(retries, 0)) * max(servers, 1)


def failover_status(status: int) -> bool:
    """True for an answer that another server may give better (503: its database is away)."""
    return status == 503


def retry_delay(attempt: int) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
    return min(_FIRST_DELAY * 2.0 ** (attempt - 1), _MAX_DELAY)


def pause_after(attempt: int, servers: int) -> float:
    """Seconds to wait after a failed attempt: none while a server of this round is untried."""
    if attempt % servers:
        return 0.0
    return retry_delay(attempt // servers)


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _alert(error: ssl.SSLError) -> str | None:
    # OpenSSL names a received alert like SSLV3_ALERT_CERTIFICATE_REVOKED.
    reason = error.reason or ""
    if "_ALERT_" not in reason:
        return None
    return reason.split("_ALERT_", 1)[1].lower().replace("_", " ")


def _tagged(error: CertwardError, request_id: str, status: int | None = None) -> CertwardError:
    error.request_id = request_id
    error.http_status = status
    return error


def transport_failure(
    exc: httpx.TransportError | ssl.SSLError,
    call: Call[Any],
    *,
    url: str,
    request_id: str,
    attempt: int,
    attempts: int,
) -> CertwardError | None:
    """The error to raise for a failed attempt, or None when the call should be tried again.

    ``exc`` is what httpx raised; its asyncio backend lets a TLS alert that arrives
    while reading escape as a bare ``ssl.SSLError``, so that is accepted too.

    A TLS refusal is final at once (trying again cannot change a certificate): the
    server refusing ours is Unauthenticated; any other TLS failure, and a connection
    failure on the last attempt, is ServiceUnavailable.
    """
    tls = _ssl_error(exc)
    if isinstance(tls, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        tls = None  # the peer hung up mid-handshake: a connection failure like any other
    if isinstance(tls, ssl.SSLCertVerificationError):
        message = f"the server at {url} is not trusted: {tls.verify_message}"
        return _tagged(ServiceUnavailable(message), request_id)
    if tls is not None:
        alert = _alert(tls)
        if alert in _IDENTITY_ALERTS:
            message = f"the server at {url} refused the client certificate: {alert}"
            return _tagged(Unauthenticated(message), request_id)
        reason = alert or tls.reason or "handshake failed"
        return _tagged(ServiceUnavailable(f"TLS with {url} failed: {reason}"), request_id)
    if attempt < attempts:
        return None
    what = str(exc) or type(exc).__name__
    if not call.idempotent and isinstance(exc, _AFTER_SENDING):
        message = (
            f"the connection to {url} failed after {call.method} {call.path} was sent ({what}); "
            f"it may have been carried out: look for request {request_id} in the audit log"
        )
        return _tagged(ServiceUnavailable(message), request_id)
    tries = f" (after {attempts} attempts)" if attempts > 1 else ""
    return _tagged(ServiceUnavailable(f"cannot reach {url}: {what}{tries}"), request_id)


def _server_error(response: httpx.Response, request_id: str) -> CertwardError:
    status = response.status_code
    try:
        detail = response.json()["error"]
        code, message = str(detail["code"]), str(detail["message"])
        request_id = str(detail.get("request_id") or request_id)
    except (ValueError, KeyError, TypeError):
        code, message = "", f"the server answered HTTP {status} without a certward error body"
    cls = error_class_for_code(code) if code else CertwardError
    if cls is CertwardError:
        cls = _FAMILY_BY_STATUS.get(status, CertwardError)
    return _tagged(cls(message), request_id, status)


def answer(call: Call[T], response: httpx.Response, request_id: str) -> T:
    """The value of a 2xx answer, or the certward error the server sent (by its code)."""
    request_id = response.headers.get("x-request-id") or request_id
    if response.is_error:
        raise _server_error(response, request_id)
    try:
        return call.read(response, request_id)
    except CertwardError as exc:  # e.g. MalformedData from a PEM that does not parse
        _tagged(exc, request_id, response.status_code)
        raise
    except (ValueError, KeyError, TypeError) as exc:
        # A 2xx answer in a shape this client does not know: a version mismatch, not a bug here.
        error = MalformedData(
            f"unexpected answer to {call.method} {call.path}: {type(exc).__name__}: {exc}"
        )
        raise _tagged(error, request_id, response.status_code) from exc


def tls_context(
    *,
    cert: StrPath | None,
    key: StrPath | None,
    ca: StrPath | None,
    ssl_context: ssl.SSLContext | None,
) -> ssl.SSLContext:
    """The context a client is built with: from files, or the caller's own."""
    if ssl_context is not None:
        if cert is not None or key is not None or ca is not None:
            raise InvalidInput("give either ssl_context or cert/key/ca files, not both")
        return ssl_context
    if ca is None:
        raise InvalidInput("a client needs ca= (the trust anchor that verifies the server)")
    return context_from_files(ca=ca, cert=cert, key=key)


def http_options(url: str, context: ssl.SSLContext, timeout: float) -> dict[str, Any]:
    """Keyword arguments for ``httpx.Client`` / ``httpx.AsyncClient``."""
    return {
        "base_url": base_url(url),
        "verify": context,
        "timeout": httpx.Timeout(timeout),
        "headers": {"user-agent": USER_AGENT, "accept": "application/json"},
    }


def bundle_context(
    p12_path: StrPath, password: str | bytes, *, ca: StrPath | None
) -> ssl.SSLContext:
    """The TLS context of a PKCS#12 file (see :func:`context_from_pkcs12`)."""
    try:
        data = Path(p12_path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read the PKCS#12 file {p12_path}: {exc.strerror}") from None
    secret = password.encode() if isinstance(password, str) else password
    return context_from_pkcs12(data, secret, ca=ca)
