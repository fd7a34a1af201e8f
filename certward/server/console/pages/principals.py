"""The principals page: API identities and KMS access points; create, hand over once, disable.

Everyone sees who they are and their grants; the list and the forms need ``admin``
(as the API's ``/v1/principals``). A new principal's private key and bundle password
exist only in the answer to the form that created it: that page offers the bundle as
downloads embedded in it (``data:`` links, so nothing is kept on the server to fetch
later) and shows the password once. The answer is never cached (``no-store``);
reloading it would post the form again, which the taken name refuses.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from certward.access.grants import Grant, Permission, is_allowed
from certward.errors import (
    AccessDenied,
    CertwardError,
    Conflict,
    InvalidInput,
    InvalidName,
    KmsKeyNotFound,
)
from certward.kms.keys import KeyInfo, list_keys
from certward.kms.specs import KMS_OPERATIONS
from certward.server.auth import Caller, blocking
from certward.server.console.form_values import FormErrors, field_errors, text_list
from certward.server.console.page import Page
from certward.server.console.render import redirect, render
from certward.server.console.security import ConsoleCaller, CsrfChecked
from certward.server.kms_key_calls import create_access_point_as
from certward.server.kms_schemas import AccessPointIn
from certward.server.principal_calls import (
    create_principal_as,
    disable_principal_as,
    list_principals_as,
)
from certward.server.schemas import PrincipalCreate

__all__ = ["PAGE", "router"]

router = APIRouter()
PER_PAGE = 100
GRANT_ROWS = 3  # grant rows of the create form
KEY_CHOICES = 200  # newest keys offered as check boxes for an access point
PrincipalName = Annotated[str, Path(min_length=1, max_length=64)]
Text = Annotated[str, Form(max_length=1024)]
PERMISSION_OPTIONS = [("", "(none)")] + [(p.value, p.value) for p in Permission]
_CREATE_FIELDS: dict[type[CertwardError], str] = {
    InvalidName: "name",
    Conflict: "name",
}
_ACCESS_POINT_FIELDS: dict[type[CertwardError], str] = {
    KmsKeyNotFound: "keys",
    InvalidName: "name",
    Conflict: "name",
    InvalidInput: "_form",
}


@dataclass(frozen=True)
class Download:
    """One file of a new bundle, embedded in the page as a ``data:`` link."""

    file_name: str
    label: str
    media_type: str
    data: bytes

    @property
    def href(self) -> str:
        return f"data:{self.media_type};base64,{base64.b64encode(self.data).decode('ascii')}"


def _schema_errors(errors: FormErrors, exc: ValidationError, fields: dict[str, str]) -> None:
    """The API schema's refusals, each next to the form field it is about."""
    for problem in exc.errors():
        where = str(problem["loc"][0]) if problem["loc"] else "_form"
        field = fields.get(where, where)
        errors.setdefault(field, f"{field.replace('_', ' ')}: {problem['msg']}")


def _key_choices(who: Caller) -> list[KeyInfo]:
    if not is_allowed(who.principal.grants, Permission.ADMIN):
        return []
    return list(list_keys(who.runtime.ctx, limit=KEY_CHOICES).items)


def _page(
    request: Request,
    who: Caller,
    *,
    after: str | None = None,
    form: str = "",
    errors: FormErrors | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    admin = is_allowed(who.principal.grants, Permission.ADMIN)
    principals = None
    next_after = None
    if admin:
        found = list_principals_as(who, limit=PER_PAGE + 1, after=after)
        if len(found) > PER_PAGE:
            found = found[:PER_PAGE]
            next_after = found[-1].name
        principals = found
    errors = errors or FormErrors()
    return render(
        request,
        "principals/page.html",
        caller=who,
        context={
            "admin": admin,
            "principals": principals,
            "next_after": next_after,
            "form": form,
            "create_errors": errors if form == "create" else {},
            "point_errors": errors if form == "access-point" else {},
            "list_errors": errors if form == "list" else {},
            "values": values or {},
            "grant_rows": range(1, GRANT_ROWS + 1),
            "permission_options": PERMISSION_OPTIONS,
            "keys": _key_choices(who),
            "operations": KMS_OPERATIONS,
        },
        status=status,
    )


@router.get("/principals", response_class=HTMLResponse)
async def show(
    request: Request,
    who: ConsoleCaller,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """The caller's own identity; for an admin, every principal and the forms."""
    return await blocking(lambda: _page(request, who, after=after))


def _created(
    request: Request, who: Caller, *, kind: str, name: str, password: str, files: list[Download]
) -> HTMLResponse:
    """The one page that holds a new bundle (see the module docstring)."""
    return render(
        request,
        "principals/created.html",
        caller=who,
        context={"kind": kind, "name": name, "password": password, "files": files},
        status=201,
    )


def _grant_rows(errors: FormErrors, values: dict[str, Any]) -> list[dict[str, Any]]:
    """The filled grant rows as the API's grant dicts, each checked where it stands."""
    grants = []
    for row in range(1, GRANT_ROWS + 1):
        permission = values.get(f"grant{row}_permission", "")
        if not permission:
            continue
        grant: dict[str, Any] = {"permission": permission}
        for part in ("resources", "profiles", "operations"):
            listed = text_list(values.get(f"grant{row}_{part}", ""))
            grant[part] = listed or ["*"]
        try:
            Grant.from_dict(grant)
        except InvalidInput as exc:
            errors[f"grant{row}_permission"] = exc.message
        grants.append(grant)
    if not grants and not errors:
        errors["grant1_permission"] = "a principal needs at least one grant"
    return grants


@router.post("/principals/create", response_model=None)
async def create(request: Request, who: ConsoleCaller, _: CsrfChecked) -> Response:
    """Create a principal; answer with its bundle (the only time it exists)."""
    form = await request.form()
    values = {
        name: value.strip()[:1024]
        for name, value in form.multi_items()
        if isinstance(value, str) and name != "csrf_token"
    }

    def work() -> Response:
        name = values.get("name", "")
        # The grant first, as in the API: without it a 403 page (audited), whatever the form.
        who.require_for("principal.create", name or None, Permission.ADMIN)
        errors = FormErrors()
        grants = _grant_rows(errors, values)
        body: PrincipalCreate | None = None
        try:
            body = PrincipalCreate.model_validate(
                {
                    "name": name,
                    "grants": grants,
                    "description": values.get("description", ""),
                    "days": values.get("days") or None,
                }
            )
        except ValidationError as exc:
            _schema_errors(errors, exc, {"grants": "grant1_permission"})
        if errors or body is None:
            return _page(request, who, form="create", errors=errors, values=values, status=400)
        try:
            bundle = create_principal_as(
                who,
                name=body.name,
                grants=[grant.model_dump() for grant in body.grants],
                description=body.description,
                days=body.days,
            )
        except AccessDenied:
            raise
        except CertwardError as exc:
            errors = field_errors(exc, _CREATE_FIELDS)
            return _page(
                request, who, form="create", errors=errors, values=values, status=exc.status
            )
        created = bundle.principal.name
        files = [
            Download(f"{created}.p12", "PKCS#12 bundle", "application/x-pkcs12", bundle.pkcs12),
            Download(
                f"{created}.pem",
                "Certificate, chain and private key (PEM)",
                "application/x-pem-file",
                bundle.chain_pem + bundle.private_key_pem,
            ),
        ]
        return _created(
            request,
            who,
            kind="principal",
            name=created,
            password=bundle.pkcs12_password,
            files=files,
        )

    return await blocking(work)


@router.post("/principals/access-points", response_model=None)
async def create_access_point(request: Request, who: ConsoleCaller, _: CsrfChecked) -> Response:
    """Create a KMS access point; answer with its bundle (the only time it exists)."""
    form = await request.form()
    values: dict[str, Any] = {
        name: value.strip()[:1024]
        for name, value in form.multi_items()
        if isinstance(value, str) and name in ("name", "description", "days", "other_keys")
    }
    chosen = [value for value in form.getlist("keys") if isinstance(value, str)]
    operations = [value for value in form.getlist("operations") if isinstance(value, str)]
    values.update(keys=chosen, operations=operations)

    def work() -> Response:
        name = values.get("name", "")
        who.require_for("kms.access_point.create", name or None, Permission.ADMIN)
        errors = FormErrors()
        keys = [*chosen, *text_list(values.get("other_keys", ""))]
        body: AccessPointIn | None = None
        try:
            body = AccessPointIn.model_validate(
                {
                    "name": name,
                    "keys": keys,
                    "operations": operations,
                    "description": values.get("description", ""),
                    "days": values.get("days") or None,
                }
            )
        except ValidationError as exc:
            _schema_errors(errors, exc, {})
        if errors or body is None:
            return _page(
                request, who, form="access-point", errors=errors, values=values, status=400
            )
        try:
            point = create_access_point_as(
                who,
                name=body.name,
                keys=body.keys,
                operations=body.operations,
                description=body.description,
                days=body.days,
            )
        except AccessDenied:
            raise
        except CertwardError as exc:
            errors = field_errors(exc, _ACCESS_POINT_FIELDS)
            return _page(
                request, who, form="access-point", errors=errors, values=values, status=exc.status
            )
        created = point.principal.name
        client_key = json.dumps(point.client_key, indent=2).encode()
        files = [
            Download(f"clientKey_{created}.json", "Client key", "application/json", client_key),
            Download("ca.pem", "CA certificate", "application/x-pem-file", point.ca_pem),
        ]
        return _created(
            request,
            who,
            kind="access point",
            name=created,
            password=point.password,
            files=files,
        )

    return await blocking(work)


@router.post("/principals/{name}/disable", response_model=None)
async def disable(
    request: Request, name: PrincipalName, who: ConsoleCaller, _: CsrfChecked
) -> Response:
    """Disable a principal: its certificate is revoked and refused from the next handshake."""

    def work() -> Response:
        try:
            disable_principal_as(who, name)
        except AccessDenied:
            raise
        except Conflict as exc:
            errors = FormErrors({"_form": exc.message})
            return _page(request, who, form="list", errors=errors, status=exc.status)
        return redirect(
            request, "/principals", flash=f"Disabled {name}: its certificate is revoked."
        )

    return await blocking(work)


PAGE = Page(name="principals", title="Principals", path="/principals", router=router)
