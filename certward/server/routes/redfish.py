"""``/redfish/v1``: the Redfish CertificateService subset over the certificate manager.

A FastAPI application of its own, mounted at ``/redfish``, so that every
answer under it, errors included (404 for unknown URIs, 405 for methods a
resource does not take, 400/401/403/500), has the Redfish shape
``{"error": {"code": "Base.1.13.0.…", "message", "@Message.ExtendedInfo": [...]}}``.
The same mutual-TLS principals and grants apply: reading or changing a
slot's certificates needs ``certs.manage`` on the slot, like the JSON API.

Slots: ``server/https``, ``client/ldap`` and ``authority/truststore`` at the
URIs bmcweb uses (``redfish_schemas.SLOT_COLLECTIONS``), when configured.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from certward.access.grants import Permission, is_allowed
from certward.access.idempotency import IdempotentReplay
from certward.certs.csr import REDFISH_FIELDS, csr_request_from_fields
from certward.certs.jobs import JobState, submit_csr_job, wait_for_job
from certward.certs.manager import (
    delete_certificate,
    get_certificate,
    install_certificate,
    list_certificates,
    replace_certificate,
)
from certward.errors import (
    CertwardError,
    SlotNotFound,
    error_class_for_code,
)
from certward.server.auth import Caller, blocking, caller, replayed_answer, request_id_of
from certward.server.redfish_schemas import (
    CERTIFICATE_SERVICE,
    GENERATE_CSR,
    REPLACE_CERTIFICATE,
    SLOT_COLLECTIONS,
    RedfishMessage,
    certificate_resource,
    certificate_service,
    certificate_uri,
    collection_resource,
    error_body,
    error_body_for,
    locations_resource,
    message,
    service_root,
    slot_and_id_of_certificate,
    slot_of_collection,
)
from certward.server.runtime import ServerRuntime

__all__ = ["REDFISH_PREFIX", "create_redfish_app"]

REDFISH_PREFIX = "/redfish"
# bmcweb waits for the CSR before it answers; RSA 4096 takes a few seconds on a slow box.
CSR_WAIT_SECONDS = 120.0
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_ODATA_HEADERS = {"OData-Version": "4.0"}

Who = Annotated[Caller, Depends(caller)]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class RedfishError(Exception):
    """An error already in Redfish words (status + messages)."""

    def __init__(self, status: int, *messages: RedfishMessage) -> None:
        super().__init__(messages[0].message_id)
        self.status = status
        self.messages = messages


def _relative(uri: str) -> str:
    return uri.removeprefix(REDFISH_PREFIX)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={**_ODATA_HEADERS, **(headers or {})})


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        raise RedfishError(400, message("MalformedJSON")) from None
    if not isinstance(body, dict):
        raise RedfishError(400, message("MalformedJSON", detail="the body must be a JSON object"))
    return body


def _string_parameter(body: dict[str, Any], name: str, *, action: str | None) -> str:
    value = body.get(name)
    if value is None or value == "":
        if action is None:
            raise RedfishError(400, message("PropertyMissing", name))
        raise RedfishError(400, message("ActionParameterMissing", action, name))
    if not isinstance(value, str):
        if action is None:
            raise RedfishError(400, message("PropertyValueError", name, detail="not a string"))
        raise RedfishError(
            400, message("ActionParameterValueError", name, action, detail="not a string")
        )
    return value


def _certificate_type(body: dict[str, Any], *, action: str | None) -> None:
    kind = body.get("CertificateType", "PEM")
    if kind != "PEM":
        detail = "only PEM certificates are supported"
        if action is None:
            raise RedfishError(400, message("PropertyValueError", "CertificateType", detail=detail))
        raise RedfishError(
            400, message("ActionParameterValueError", "CertificateType", action, detail=detail)
        )


def _odata_id(value: Any) -> str | None:
    # {"@odata.id": uri} per the schema; a bare string as in seed 002's example.
    if isinstance(value, dict):
        value = value.get("@odata.id")
    return value if isinstance(value, str) else None


def _require(who: Caller, slot: str, action: str | None = None) -> None:
    if action is None:
        who.require(Permission.CERTS_MANAGE, resource=slot)
    else:
        who.require_for(action, slot, Permission.CERTS_MANAGE, resource=slot)


# -- service root, CertificateService, CertificateLocations ----------------------------------

router = APIRouter()


@router.get("/v1")
async def root(who: Who) -> JSONResponse:
    """The service root (any principal)."""
    return _json(service_root())


@router.get(_relative(CERTIFICATE_SERVICE))
async def service(who: Who) -> JSONResponse:
    """The CertificateService and its actions (any principal)."""
    return _json(certificate_service())


@router.get(_relative(CERTIFICATE_SERVICE) + "/CertificateLocations")
async def locations(who: Who) -> JSONResponse:
    """Every certificate in the Redfish slots the caller may manage."""

    def work() -> list[str]:
        uris = []
        for slot in SLOT_COLLECTIONS:
            if not is_allowed(who.principal.grants, Permission.CERTS_MANAGE, resource=slot):
                continue
            try:
                found = list_certificates(who.runtime.ctx, slot)
            except SlotNotFound:
                continue
            uris += [certificate_uri(slot, item.id) for item in found]
        return uris

    return _json(locations_resource(await blocking(work)))


# -- actions ---------------------------------------------------------------------------------


def _csr_fields(body: dict[str, Any]) -> dict[str, Any]:
    action = "CertificateService.GenerateCSR"
    fields = {}
    for name, value in body.items():
        if name in ("CertificateCollection", "Oem"):
            continue
        if name not in REDFISH_FIELDS:
            raise RedfishError(400, message("ActionParameterNotSupported", name, action))
        fields[REDFISH_FIELDS[name]] = value
    return fields


@router.post(_relative(GENERATE_CSR))
async def generate_csr(request: Request, who: Who) -> JSONResponse:
    """Make a key and a CSR for a collection's slot; answers once the CSR is ready."""
    body = await _body(request)
    collection = _odata_id(body.get("CertificateCollection"))
    if collection is None:
        raise RedfishError(
            400,
            message(
                "ActionParameterMissing", "CertificateService.GenerateCSR", "CertificateCollection"
            ),
        )
    slot = slot_of_collection(collection)
    if slot is None:
        raise RedfishError(
            400,
            message(
                "ActionParameterValueError",
                "CertificateCollection",
                "CertificateService.GenerateCSR",
                detail=f"{collection} is not a certificate collection of this service",
            ),
        )

    def work() -> tuple[str, str]:
        _require(who, slot, "slot.csr")
        csr_request = csr_request_from_fields(_csr_fields(body))
        job = who.audited(
            "slot.csr",
            slot,
            lambda audit: submit_csr_job(
                who.runtime.ctx, slot, csr_request, actor=who.name, extra_rows=audit
            ),
            details={"key_type": csr_request.key_type.value, "via": "redfish"},
        )
        done = wait_for_job(who.runtime.ctx, job.id, timeout=CSR_WAIT_SECONDS)
        if done.state is JobState.FAILED:
            error = error_class_for_code(done.error_code or "internal")
            raise error(done.error_message or "CSR generation failed")
        if done.csr_pem is None:
            raise RedfishError(
                500,
                message("InternalError", detail=f"CSR job {job.id} did not finish in time"),
            )
        return done.csr_pem, job.id

    csr_pem, _job = await blocking(work)
    return _json(
        {
            "CSRString": csr_pem,
            "CertificateCollection": {"@odata.id": SLOT_COLLECTIONS[slot]},
        }
    )


@router.post(_relative(REPLACE_CERTIFICATE))
async def replace(request: Request, who: Who) -> JSONResponse:
    """Replace the certificate at CertificateUri with CertificateString."""
    action = "CertificateService.ReplaceCertificate"
    body = await _body(request)
    pem = _string_parameter(body, "CertificateString", action=action)
    _certificate_type(body, action=action)
    target = _odata_id(body.get("CertificateUri"))
    if target is None:
        raise RedfishError(400, message("ActionParameterMissing", action, "CertificateUri"))
    found = slot_and_id_of_certificate(target)
    if found is None:
        raise RedfishError(
            400,
            message(
                "ActionParameterValueError",
                "CertificateUri",
                action,
                detail=f"{target} is not a certificate of this service",
            ),
        )
    slot, cert_id = found

    def work() -> dict[str, Any]:
        _require(who, slot, "slot.replace")
        replaced = who.audited(
            "slot.replace",
            slot,
            lambda audit: replace_certificate(
                who.runtime.ctx, slot, cert_id, pem.encode(), actor=who.name, extra_rows=audit
            ),
            details={"certificate_id": cert_id, "via": "redfish"},
        )
        return certificate_resource(replaced)

    resource = await blocking(work)
    return _json(resource, headers={"Location": resource["@odata.id"]})


# -- collections and certificates ------------------------------------------------------------


def _add_slot_routes(slot: str, collection: str) -> None:
    path = _relative(collection)

    @router.get(path, name=f"{slot} collection")
    async def members(who: Who) -> JSONResponse:
        def work() -> dict[str, Any]:
            _require(who, slot)
            return collection_resource(slot, list_certificates(who.runtime.ctx, slot))

        return _json(await blocking(work))

    @router.post(path, name=f"{slot} install")
    async def install(request: Request, who: Who) -> JSONResponse:
        body = await _body(request)
        pem = _string_parameter(body, "CertificateString", action=None)
        _certificate_type(body, action=None)

        def work() -> dict[str, Any]:
            _require(who, slot, "slot.install")
            installed = who.audited(
                "slot.install",
                slot,
                lambda audit: install_certificate(
                    who.runtime.ctx, slot, pem.encode(), actor=who.name, extra_rows=audit
                ),
                details={"via": "redfish"},
            )
            return certificate_resource(installed)

        resource = await blocking(work)
        return _json(resource, 201, headers={"Location": resource["@odata.id"]})

    @router.get(path + "/{cert_id}", name=f"{slot} certificate")
    async def one(cert_id: str, who: Who) -> JSONResponse:
        def work() -> dict[str, Any]:
            _require(who, slot)
            return certificate_resource(get_certificate(who.runtime.ctx, slot, cert_id))

        return _json(await blocking(work))

    @router.delete(path + "/{cert_id}", name=f"{slot} delete")
    async def delete(cert_id: str, who: Who) -> Response:
        def work() -> None:
            _require(who, slot, "slot.delete")
            who.audited(
                "slot.delete",
                slot,
                lambda audit: delete_certificate(
                    who.runtime.ctx, slot, cert_id, actor=who.name, extra_rows=audit
                ),
                details={"certificate_id": cert_id, "via": "redfish"},
            )

        await blocking(work)
        return Response(status_code=204, headers=_ODATA_HEADERS)

    _not_allowed(path, {"GET", "POST"})
    _not_allowed(path + "/{cert_id}", {"GET", "DELETE"})


def _not_allowed(path: str, allowed: Iterable[str]) -> None:
    """Answer every other method on ``path`` with 405 and the Allow header."""
    allowed = sorted(allowed)
    others = [method for method in _METHODS if method not in allowed]

    async def refuse() -> JSONResponse:
        raise RedfishError(405, message("OperationNotAllowed"))

    router.add_api_route(path, refuse, methods=others, include_in_schema=False)
    _ALLOW[path] = ", ".join(allowed)


_ALLOW: dict[str, str] = {}

for _slot, _collection in SLOT_COLLECTIONS.items():
    _add_slot_routes(_slot, _collection)
_not_allowed("/v1", {"GET"})
_not_allowed(_relative(CERTIFICATE_SERVICE), {"GET"})
_not_allowed(_relative(CERTIFICATE_SERVICE) + "/CertificateLocations", {"GET"})
_not_allowed(_relative(GENERATE_CSR), {"POST"})
_not_allowed(_relative(REPLACE_CERTIFICATE), {"POST"})


# -- the application -------------------------------------------------------------------------


def _install_error_handlers(app: FastAPI) -> None:
    def respond(request: Request, status: int, body: dict[str, Any]) -> JSONResponse:
        headers = {}
        if status == 405:
            route = request.scope.get("route")
            allow = _ALLOW.get(getattr(route, "path", ""))
            if allow:
                headers["Allow"] = allow
        return _json(body, status, headers)

    app.add_exception_handler(IdempotentReplay, replayed_answer)

    @app.exception_handler(RedfishError)
    async def _redfish(request: Request, exc: RedfishError) -> JSONResponse:
        return respond(request, exc.status, error_body(exc.messages, request_id_of(request)))

    @app.exception_handler(CertwardError)
    async def _certward(request: Request, exc: CertwardError) -> JSONResponse:
        what = request.url.path
        body = error_body_for(exc, request_id_of(request), what=what)
        return respond(request, exc.status, body)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            found = message("ResourceMissingAtURI", request.url.path)
        elif exc.status_code == 405:
            found = message("OperationNotAllowed")
        else:
            found = message("GeneralError", detail=str(exc.detail))
        return respond(request, exc.status_code, error_body([found], request_id_of(request)))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        found = message("GeneralError", detail="the request is not valid")
        return respond(request, 400, error_body([found], request_id_of(request)))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        body = error_body([message("InternalError")], request_id_of(request))
        return respond(request, 500, body)


class _TrailingSlash:
    """Serve ``/redfish/v1/`` as ``/redfish/v1``: Redfish clients use both spellings."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            scope = dict(scope)
            scope["path"] = path.rstrip("/") or "/"
            raw = scope.get("raw_path")
            if isinstance(raw, bytes):
                scope["raw_path"] = raw.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)


def create_redfish_app(runtime: ServerRuntime) -> _TrailingSlash:
    """The Redfish application of ``runtime``; mount it at :data:`REDFISH_PREFIX`."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, redirect_slashes=False)
    app.state.runtime = runtime
    _install_error_handlers(app)
    app.include_router(router)
    return _TrailingSlash(app)
