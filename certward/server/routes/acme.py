"""``/acme/<ca>[/<profile>]/...``: the ACME server's HTTP edge (RFC 8555), a plain ASGI app.

Not FastAPI: ACME has its own envelope (a JWS in ``application/jose+json``),
its own error shape (``application/problem+json`` with an ACME error type) and
headers on every answer (``Replay-Nonce``, ``Link: rel="index"``). Each
request is checked in this order: the path names an enabled CA and profile, the
body is a flattened JWS whose ``url`` is this URL, its signature verifies with
the key it names (its ``jwk``, or the key of the account its ``kid`` names),
and only then is its nonce used up, so a forged or replayed request changes
nothing. The work runs in a worker thread; nothing here raises to the server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter

from certward.access.audit import audit_row, log_event
from certward.acme.accounts import (
    Account,
    account_by_url,
    change_account_key,
    create_account,
    update_account,
)
from certward.acme.certificates import certificate_chain_pem, revoke
from certward.acme.directory import AcmeDirectory
from certward.acme.jws import SignedRequest, jwk_from_json, parse_signed_request, verify_with
from certward.acme.nonces import issue_nonce, use_nonce
from certward.acme.orders import (
    AuthorizationView,
    ChallengeView,
    OrderView,
    answer_challenge,
    deactivate_authorization,
    finalize_order,
    get_authorization,
    get_challenge,
    get_order,
    new_order,
    order_ids,
)
from certward.acme.validation import ChallengeValidator
from certward.ca.factory import IssuedCertificate
from certward.ca.group_commit import TableRow
from certward.config import AcmeSettings
from certward.errors import (
    AcmeBadNonce,
    AcmeMalformed,
    AcmeNotFound,
    AcmeProblem,
    AcmeRateLimited,
    AcmeServerInternal,
    AcmeUnauthorized,
    CertwardError,
    ConfigError,
    ProfileNotFound,
)
from certward.server.runtime import ServerRuntime
from certward.server.worker_threads import blocking

__all__ = ["ACME_PREFIX", "AcmeApp"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_log = structlog.get_logger()
ACME_PREFIX = "/acme/"
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")
_ENDPOINTS = frozenset(
    {
        "directory",
        "new-nonce",
        "new-account",
        "new-order",
        "revoke-cert",
        "key-change",
        "acct",
        "order",
        "authz",
        "chall",
        "cert",
    }
)
_JSON = "application/json"
_PROBLEM = "application/problem+json"
_JOSE = b"application/jose+json"
# How long a client should wait after a rate limit before trying again.
_RETRY_AFTER_SECONDS = 60


@dataclass
class _Answer:
    status: int
    body: bytes = b""
    content_type: str | None = _JSON
    headers: list[tuple[str, str]] = field(default_factory=list)


def _json(status: int, value: Any, *headers: tuple[str, str]) -> _Answer:
    return _Answer(status, json.dumps(value).encode(), _JSON, list(headers))


def _time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class _Call:
    """One request, after routing."""

    directory: AcmeDirectory
    rest: tuple[str, ...]
    method: str
    url: str
    body: bytes
    content_type: bytes
    client_address: str | None
    request_id: str | None


class AcmeApp:
    """The ACME endpoints of every enabled directory."""

    def __init__(self, runtime: ServerRuntime, registry: CollectorRegistry | None) -> None:
        self.runtime = runtime
        self.ctx = runtime.ctx
        self.settings: AcmeSettings = runtime.ctx.settings.acme
        self.validator = ChallengeValidator(self.settings)
        self.max_body = runtime.settings.max_body_bytes
        for name in sorted({*self.settings.profiles, self.settings.default_profile}):
            try:
                is_ca = runtime.ctx.profiles.get(name).is_ca
            except ProfileNotFound as exc:
                raise ConfigError(f"[acme] profiles: {exc.message}") from None
            if is_ca:
                raise ConfigError(f"[acme] profiles: {name!r} makes CA certificates")
        self._requests = Counter(
            "certward_acme_requests_total",
            "ACME requests by endpoint and result (ok or the ACME error type)",
            ["endpoint", "result"],
            registry=registry,
        )

    # -- ASGI ---------------------------------------------------------------------------

    async def __call__(
        self, scope: Scope, receive: Receive, send: Send, extra_headers: list[tuple[bytes, bytes]]
    ) -> int:
        """Answer one request; returns the HTTP status sent."""
        body, too_large = await self._body(scope, receive)
        call = self._route(scope, body)
        if isinstance(call, _Answer):
            answer = call
        else:
            try:
                if too_large:
                    answer = await blocking(
                        self._problem, call, AcmeMalformed("the request body is too large"), 413
                    )
                else:
                    answer = await blocking(self._answer, call)
            except Exception as exc:  # even a nonce could not be stored (database down)
                _log.error("acme.unavailable", error=type(exc).__name__)
                problem = AcmeServerInternal("the service cannot answer now; try again later")
                answer = _Answer(503, _problem_body(problem, 503), _PROBLEM)
        headers = [(name.encode(), value.encode("latin-1")) for name, value in answer.headers]
        if answer.content_type is not None:
            headers.append((b"content-type", answer.content_type.encode()))
        headers.append((b"content-length", str(len(answer.body)).encode()))
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [*headers, *extra_headers],
            }
        )
        body_out = b"" if scope["method"] == "HEAD" else answer.body
        await send({"type": "http.response.body", "body": body_out})
        return answer.status

    async def _body(self, scope: Scope, receive: Receive) -> tuple[bytes, bool]:
        if scope["method"] != "POST":
            return b"", False
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
                return b"", True
            chunks.append(chunk)
            more = message.get("more_body", False)
        return b"".join(chunks), False

    def _route(self, scope: Scope, body: bytes) -> _Call | _Answer:
        headers = dict(scope.get("headers", ()))
        host = headers.get(b"host", b"").decode("latin-1")
        parts = tuple(scope["path"][len(ACME_PREFIX) :].split("/"))
        ca_name, rest = parts[0], parts[1:]
        profile = self.settings.default_profile
        base = f"{ACME_PREFIX}{ca_name}"
        if rest and rest[0] not in _ENDPOINTS and rest[0] in self.settings.profiles:
            profile, rest = rest[0], rest[1:]
            base = f"{base}/{profile}"
        if (
            not _HOST.match(host)
            or ca_name not in self.settings.cas
            or not rest
            or rest[0] not in _ENDPOINTS
        ):
            problem = AcmeNotFound(f"no ACME directory at {scope['path']}")
            return _Answer(404, _problem_body(problem, 404), _PROBLEM)
        client = scope.get("client")
        return _Call(
            directory=AcmeDirectory(ca_name=ca_name, profile=profile, base=f"https://{host}{base}"),
            rest=rest,
            method=scope["method"],
            url=f"https://{host}{scope['path']}",
            body=body,
            content_type=headers.get(b"content-type", b"").split(b";")[0].strip().lower(),
            client_address=client[0] if client else None,
            request_id=scope.get("state", {}).get("request_id"),
        )

    # -- in a worker thread ----------------------------------------------------------

    def _answer(self, call: _Call) -> _Answer:
        endpoint = call.rest[0]
        try:
            answer = self._dispatch(call)
        except AcmeProblem as exc:
            self._requests.labels(endpoint, exc.acme_type).inc()
            return self._problem(call, exc, exc.status)
        except CertwardError as exc:
            _log.warning("acme.failed", endpoint=endpoint, code=exc.code, error=exc.message)
            self._requests.labels(endpoint, "serverInternal").inc()
            return self._problem(call, AcmeServerInternal(exc.message), exc.status)
        except Exception as exc:  # never a traceback to an ACME client
            _log.error("acme.failed", endpoint=endpoint, error=type(exc).__name__, exc_info=exc)
            self._requests.labels(endpoint, "serverInternal").inc()
            return self._problem(call, AcmeServerInternal("internal error"), 500)
        self._requests.labels(endpoint, "ok").inc()
        answer.headers += self._common_headers(call)
        return answer

    def _problem(self, call: _Call, problem: AcmeProblem, status: int) -> _Answer:
        headers = self._common_headers(call)
        if isinstance(problem, AcmeRateLimited):
            headers.append(("Retry-After", str(_RETRY_AFTER_SECONDS)))
        return _Answer(status, _problem_body(problem, status), _PROBLEM, headers)

    def _common_headers(self, call: _Call) -> list[tuple[str, str]]:
        nonce = issue_nonce(self.ctx, lifetime_seconds=self.settings.nonce_seconds)
        return [
            ("Replay-Nonce", nonce),
            ("Link", f'<{call.directory.url("directory")}>;rel="index"'),
            ("Cache-Control", "no-store"),
        ]

    def _dispatch(self, call: _Call) -> _Answer:
        rest, method = call.rest, call.method
        if rest == ("directory",) and method in ("GET", "HEAD"):
            return self._directory(call)
        if rest == ("new-nonce",) and method in ("GET", "HEAD"):
            return _Answer(204 if method == "GET" else 200, content_type=None)
        if method != "POST":
            raise AcmeMalformed(f"{method} is not allowed here; ACME resources take POST")
        if call.content_type != _JOSE:
            raise AcmeMalformed("ACME requests must be application/jose+json")
        request = parse_signed_request(call.body, expected_url=call.url)
        if rest == ("new-account",):
            return self._new_account(call, request)
        if rest == ("revoke-cert",) and request.jwk is not None:
            return self._revoke(call, request, None)
        account = self._authenticated(call, request)
        handlers: dict[str, Callable[[_Call, SignedRequest, Account], _Answer]] = {
            "new-order": self._new_order,
            "revoke-cert": self._revoke,
            "key-change": self._key_change,
            "acct": self._account,
            "order": self._order,
            "authz": self._authorization,
            "chall": self._challenge,
            "cert": self._certificate,
        }
        handler = handlers.get(rest[0])
        if handler is None:
            raise AcmeNotFound(f"no ACME resource {rest[0]!r}")
        return handler(call, request, account)

    # -- authentication --------------------------------------------------------------

    def _use_nonce(self, request: SignedRequest) -> None:
        if not use_nonce(self.ctx, request.nonce):
            raise AcmeBadNonce("the nonce is missing, unknown or already used")

    def _authenticated(self, call: _Call, request: SignedRequest) -> Account:
        if request.kid is None:
            raise AcmeMalformed("this request must name its account with kid")
        account = account_by_url(self.ctx, call.directory, request.kid)
        verify_with(request, account.key, wrong_key=AcmeUnauthorized)
        self._use_nonce(request)
        if account.status != "valid":
            raise AcmeUnauthorized(f"the account is {account.status}")
        return account

    def _audit(
        self,
        call: _Call,
        action: str,
        target: str | None,
        principal: str | None,
        details: dict[str, Any] | None = None,
    ) -> TableRow:
        row = audit_row(
            self.ctx,
            principal=principal,
            action=action,
            target=target,
            result="ok",
            request_id=call.request_id,
            details={"ca": call.directory.ca_name, "profile": call.directory.profile}
            | (details or {}),
        )
        return row

    # -- resources -----------------------------------------------------------------------

    def _directory(self, call: _Call) -> _Answer:
        directory = call.directory
        return _json(
            200,
            {
                "newNonce": directory.url("new-nonce"),
                "newAccount": directory.url("new-account"),
                "newOrder": directory.url("new-order"),
                "revokeCert": directory.url("revoke-cert"),
                "keyChange": directory.url("key-change"),
                "meta": {"externalAccountRequired": self.settings.require_eab},
            },
        )

    def _account_json(self, directory: AcmeDirectory, account: Account) -> dict[str, Any]:
        return {
            "status": account.status,
            "contact": list(account.contact),
            "orders": directory.url("acct", account.public_id, "orders"),
        }

    def _new_account(self, call: _Call, request: SignedRequest) -> _Answer:
        if request.jwk is None:
            raise AcmeMalformed("new-account must carry the account key as jwk")
        verify_with(request, request.jwk, wrong_key=AcmeMalformed)
        self._use_nonce(request)
        payload = request.payload_json()
        rows: list[TableRow] = []

        def audit(account: Account) -> list[TableRow]:
            rows.append(
                self._audit(call, "acme.account.create", account.public_id, account.audit_name)
            )
            return rows

        account, created = create_account(
            self.ctx,
            call.directory,
            key=request.jwk,
            payload=payload,
            url=call.url,
            client_address=call.client_address,
            require_eab=self.settings.require_eab,
            accounts_per_hour=self.settings.accounts_per_hour,
            audit=audit,
        )
        for row in rows:
            log_event(row)
        location = ("Location", call.directory.account_url(account.public_id))
        return _json(201 if created else 200, self._account_json(call.directory, account), location)

    def _account(self, call: _Call, request: SignedRequest, account: Account) -> _Answer:
        rest = call.rest
        if len(rest) < 2 or rest[1] != account.public_id:
            raise AcmeUnauthorized("the kid does not match the account URL")
        if rest[2:] == ("orders",):
            urls = [call.directory.order_url(i) for i in order_ids(self.ctx, account)]
            return _json(200, {"orders": urls})
        if len(rest) != 2:
            raise AcmeNotFound("no such account resource")
        payload = request.payload_json() if request.payload else {}
        audit = []
        if payload.get("status") == "deactivated":
            audit = [
                self._audit(call, "acme.account.deactivate", account.public_id, account.audit_name)
            ]
        if payload:
            account = update_account(self.ctx, account, payload, audit=audit)
            for row in audit:
                log_event(row)
        return _json(200, self._account_json(call.directory, account))

    def _key_change(self, call: _Call, request: SignedRequest, account: Account) -> _Answer:
        # The payload is itself a JWS, signed by the new key (RFC 8555 7.3.5).
        inner = parse_signed_request(request.payload, expected_url=call.url)
        if inner.jwk is None or inner.nonce is not None:
            raise AcmeMalformed("the inner JWS needs a jwk and no nonce")
        verify_with(inner, inner.jwk, wrong_key=AcmeMalformed)
        payload = inner.payload_json()
        if payload.get("account") != request.kid:
            raise AcmeUnauthorized("the inner JWS names another account")
        old_key = jwk_from_json(payload.get("oldKey"))
        if old_key.thumbprint() != account.key.thumbprint():
            raise AcmeUnauthorized("oldKey is not the account's current key")
        audit = self._audit(call, "acme.account.key_change", account.public_id, account.audit_name)
        updated = change_account_key(self.ctx, call.directory, account, inner.jwk, audit=[audit])
        log_event(audit)
        return _json(200, self._account_json(call.directory, updated))

    def _order_json(self, directory: AcmeDirectory, order: OrderView) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": order.status,
            "expires": _time(order.expires_at),
            "identifiers": list(order.identifiers),
            "authorizations": [directory.authorization_url(a) for a in order.authorizations],
            "finalize": directory.url("order", order.public_id, "finalize"),
        }
        if order.certificate_serial is not None and order.status == "valid":
            body["certificate"] = directory.certificate_url(order.certificate_serial)
        if order.error is not None:
            body["error"] = order.error
        return body

    def _new_order(self, call: _Call, request: SignedRequest, account: Account) -> _Answer:
        order = new_order(
            self.ctx,
            account,
            request.payload_json(),
            profile=self.ctx.profiles.get(call.directory.profile),
            order_hours=self.settings.order_hours,
            orders_per_hour=self.settings.orders_per_hour,
        )
        location = ("Location", call.directory.order_url(order.public_id))
        return _json(201, self._order_json(call.directory, order), location)

    def _order(self, call: _Call, request: SignedRequest, account: Account) -> _Answer:
        if len(call.rest) == 2:
            order = get_order(self.ctx, account, call.rest[1])
        elif call.rest[2:] == ("finalize",):

            def audit(issued: IssuedCertificate) -> list[TableRow]:
                row = self._audit(
                    call,
                    "acme.order.finalize",
                    issued.serial,
                    account.audit_name,
                    {"order": call.rest[1], "sans": [str(s.value) for s in issued.sans]},
                )
                log_event(row)
                return [row]

            order = finalize_order(
                self.ctx, call.directory, account, call.rest[1], request.payload_json(), audit=audit
            )
            self.runtime.count_issued()
        else:
            raise AcmeNotFound("no such order resource")
        location = ("Location", call.directory.order_url(order.public_id))
        return _json(200, self._order_json(call.directory, order), location)

    def _challenge_json(self, directory: AcmeDirectory, challenge: ChallengeView) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": challenge.type,
            "url": directory.challenge_url(challenge.public_id),
            "status": challenge.status,
            "token": challenge.token,
        }
        if challenge.validated_at is not None:
            body["validated"] = _time(challenge.validated_at)
        if challenge.error is not None:
            body["error"] = challenge.error
        return body

    def _authorization_json(
        self, directory: AcmeDirectory, authorization: AuthorizationView
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "identifier": {
                "type": authorization.identifier_type,
                "value": authorization.identifier,
            },
            "status": authorization.status,
            "expires": _time(authorization.expires_at),
            "challenges": [self._challenge_json(directory, c) for c in authorization.challenges],
        }
        if authorization.wildcard:
            body["wildcard"] = True
        return body

    def _authorization(self, call: _Call, request: SignedRequest, account: Account) -> _Answer:
        if len(call.rest) != 2:
            raise AcmeNotFound("no such authorization")
        payload = request.payload_json() if request.payload else {}
        if payload.get("status") == "deactivated":
            authorization = deactivate_authorization(self.ctx, account, call.rest[1])
        elif payload:
            raise AcmeMalformed("an authorization can only be deactivated")
        else:
            authorization = get_authorization(self.ctx, account, call.rest[1])
        return _json(200, self._authorization_json(call.directory, authorization))

    def _challenge(self, call: _Call, request: SignedRequest, account: Account) -> _Answer:
        if len(call.rest) != 2:
            raise AcmeNotFound("no such challenge")
        if request.payload:
            request.payload_json()  # {} asks for the check; anything else must still be JSON
            challenge, authorization_id = answer_challenge(
                self.ctx, account, call.rest[1], self.validator.check
            )
        else:  # POST-as-GET: only look
            challenge, authorization_id = get_challenge(self.ctx, account, call.rest[1])
        up = ("Link", f'<{call.directory.authorization_url(authorization_id)}>;rel="up"')
        return _json(200, self._challenge_json(call.directory, challenge), up)

    def _certificate(self, call: _Call, request: SignedRequest, account: Account) -> _Answer:
        if len(call.rest) != 2 or request.payload:
            raise AcmeMalformed("download a certificate with POST-as-GET")
        pem = certificate_chain_pem(self.ctx, call.directory, account, call.rest[1])
        return _Answer(200, pem, "application/pem-certificate-chain")

    def _revoke(self, call: _Call, request: SignedRequest, account: Account | None) -> _Answer:
        if account is None:
            assert request.jwk is not None
            verify_with(request, request.jwk, wrong_key=AcmeMalformed)
            self._use_nonce(request)
        principal = account.audit_name if account is not None else "acme:certificate-key"
        rows: list[TableRow] = []

        def audit(serial: str, reason: str) -> list[TableRow]:
            rows.append(
                self._audit(call, "acme.certificate.revoke", serial, principal, {"reason": reason})
            )
            return rows

        revoked = revoke(
            self.ctx,
            call.directory,
            request.payload_json(),
            account=account,
            certificate_key=request.jwk,
            audit=audit,
            publish=False,
        )
        for row in rows:
            log_event(row)
        self.runtime.after_revocation(revoked.ca_name)
        return _Answer(200, b"", None)


def _problem_body(problem: AcmeProblem, status: int) -> bytes:
    return json.dumps(
        {"type": problem.problem_type, "detail": problem.message, "status": status}
    ).encode()
