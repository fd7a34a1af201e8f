"""Who is calling: the principal behind the client certificate, and audited actions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import Request, Response

from certward.access.audit import audit_row, log_event, record_event
from certward.access.grants import Permission, authorize
from certward.access.idempotency import IdempotencyClaim, IdempotentReplay, claim_row
from certward.access.principals import Principal
from certward.ca.group_commit import TableRow
from certward.errors import AccessDenied, CertwardError, Conflict, Unauthenticated
from certward.server.peercert import client_fingerprint
from certward.server.runtime import MISSING, ServerRuntime
from certward.server.worker_threads import blocking

__all__ = ["Caller", "blocking", "caller", "replayed_answer", "request_id_of", "runtime_of"]

T = TypeVar("T")


async def replayed_answer(request: Request, exc: Exception) -> Response:
    """Exception handler (every app that renders errors installs it): the stored answer again."""
    assert isinstance(exc, IdempotentReplay)
    return Response(
        exc.body,
        status_code=exc.status,
        media_type="application/json",
        headers={"idempotent-replayed": "true"},
    )


def runtime_of(request: Request) -> ServerRuntime:
    """The service runtime the app was built with."""
    runtime = request.app.state.runtime
    assert isinstance(runtime, ServerRuntime)
    return runtime


def request_id_of(request: Request) -> str | None:
    """The request id the outer layer assigned."""
    value = request.scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Caller:
    """An authenticated principal making one request."""

    principal: Principal
    request_id: str | None
    runtime: ServerRuntime
    # The request's Idempotency-Key (checked and fingerprinted by the outer layer), if any,
    # and the request's state, where a claim is marked for the outer layer to store the answer.
    idempotency: IdempotencyClaim | None = None
    state: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.principal.name

    def require(
        self,
        permission: Permission,
        *,
        resource: str | None = None,
        profile: str | None = None,
        operation: str | None = None,
    ) -> None:
        """AccessDenied unless this principal holds a grant for it."""
        authorize(
            self.name,
            self.principal.grants,
            permission,
            resource=resource,
            profile=profile,
            operation=operation,
        )

    def require_for(
        self,
        action: str,
        target: str | None,
        permission: Permission,
        *,
        resource: str | None = None,
        profile: str | None = None,
        operation: str | None = None,
    ) -> None:
        """:meth:`require` for a mutating call: a refusal is recorded in the audit log too."""
        try:
            self.require(permission, resource=resource, profile=profile, operation=operation)
        except AccessDenied as exc:
            self._record(action, target, exc.code, {"permission": permission.value})
            raise

    def audited(
        self,
        action: str,
        target: str | None,
        work: Callable[[Sequence[TableRow]], T],
        *,
        details: dict[str, Any] | None = None,
    ) -> T:
        """Run ``work`` and audit its outcome; success is stored with the change itself.

        ``work`` receives the audit row to store in its own transaction, so a change
        and its audit record are committed together (or not at all). A refusal is
        recorded on its own with the error code.

        With an Idempotency-Key, a key already used answers as the first request
        did (see :mod:`certward.access.idempotency`) and ``work`` is not run;
        a new one is stored with the change.
        """
        rows: list[TableRow] = []
        if self.idempotency is not None and self.request_id is not None:
            rows.append(
                claim_row(
                    self.runtime.ctx,
                    self.idempotency,
                    principal=self.name,
                    request_id=self.request_id,
                )
            )
            # Only a request that stored a key has an answer to keep (see ServiceApp).
            self.state["idempotency_principal"] = self.name
        ok = audit_row(
            self.runtime.ctx,
            principal=self.name,
            action=action,
            target=target,
            result="ok",
            request_id=self.request_id,
            details=details,
        )
        try:
            try:
                result = work([ok, *rows])
            except Conflict:
                self._lost_key_race()
                raise
        except CertwardError as exc:
            self._record(action, target, exc.code, details)
            raise
        log_event(ok)
        return result

    def _lost_key_race(self) -> None:
        """After a conflict: if another attempt with our key committed first, say so.

        Two first attempts with one key (a client retrying on another node while its
        first attempt still runs) race on the key's unique row; the loser answers as a
        retry would (the stored answer, or 409 idempotency.in_progress).
        """
        if self.idempotency is not None and self.request_id is not None:
            claim_row(
                self.runtime.ctx, self.idempotency, principal=self.name, request_id=self.request_id
            )

    def _record(
        self, action: str, target: str | None, result: str, details: dict[str, Any] | None
    ) -> None:
        record_event(
            self.runtime.ctx,
            principal=self.name,
            action=action,
            target=target,
            result=result,
            request_id=self.request_id,
            details=details,
            writer=self.runtime.writer,
        )


async def caller(request: Request) -> Caller:
    """FastAPI dependency: the calling principal; 401 without a certificate, 403 if unknown.

    Async on purpose: a cached principal costs nothing, and only a cache miss
    goes to a worker thread for its database read.
    """
    fingerprint = client_fingerprint(request.scope)
    if fingerprint is None:
        raise Unauthenticated("this route needs a client certificate (mutual TLS)")
    runtime = runtime_of(request)
    principal = runtime.cached_principal(fingerprint)
    if principal is MISSING:
        principal = await blocking(runtime.principal, fingerprint)
    assert principal is None or isinstance(principal, Principal)
    if principal is None:
        raise AccessDenied("the client certificate does not belong to any principal")
    if not principal.enabled:
        raise AccessDenied(f"principal {principal.name!r} is disabled")
    state = request.scope.setdefault("state", {})
    claim = state.get("idempotency")
    return Caller(
        principal=principal,
        request_id=request_id_of(request),
        runtime=runtime,
        idempotency=claim if isinstance(claim, IdempotencyClaim) else None,
        state=state,
    )
