"""The CAs page: the hierarchy, CRLs, and the forms to create a CA, issue and publish.

Issuing many certificates from one form and publishing a CRL run as jobs whose
progress the browser polls (see :mod:`certward.server.console.progress`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, Response

from certward.access.grants import Permission, is_allowed
from certward.ca.authority import CAInfo
from certward.ca.crl import PublishedCRL, latest_crl
from certward.crypto.keys import KeyType
from certward.crypto.names import parse_sans
from certward.errors import (
    AccessDenied,
    CAExists,
    CANotFound,
    CertwardError,
    InvalidInput,
    InvalidName,
    InvalidSubject,
    InvalidValidity,
    IssuerNotUsable,
    KeyTypeNotAllowed,
    PolicyViolation,
    ProfileNotFound,
    SANNotAllowed,
    SANRequired,
)
from certward.server.auth import Caller, blocking
from certward.server.ca_calls import create_ca_as, issue_as, publish_crl_as, readable_cas
from certward.server.console.form_values import (
    FormErrors,
    field_errors,
    optional_int,
    text_list,
)
from certward.server.console.page import Page
from certward.server.console.progress import JobResult, Progress, start_job
from certward.server.console.render import redirect, render
from certward.server.console.security import ConsoleCaller, CsrfChecked

__all__ = ["PAGE", "router"]

router = APIRouter()
MAX_BULK = 1000
CAName = Annotated[str, Path(min_length=1, max_length=64)]
Text = Annotated[str, Form(max_length=1024)]
LongText = Annotated[str, Form(max_length=16384)]
KEY_TYPE_OPTIONS = [(k.value, k.value) for k in KeyType]

_CREATE_FIELDS: dict[type[CertwardError], str] = {
    InvalidName: "name",
    CAExists: "name",
    InvalidSubject: "subject",
    CANotFound: "parent",
    IssuerNotUsable: "parent",
    InvalidValidity: "days",
}
_ISSUE_FIELDS: dict[type[CertwardError], str] = {
    CANotFound: "ca",
    IssuerNotUsable: "ca",
    ProfileNotFound: "profile",
    KeyTypeNotAllowed: "key_type",
    InvalidSubject: "common_name",
    SANNotAllowed: "sans",
    SANRequired: "sans",
    InvalidValidity: "days",
    PolicyViolation: "_form",
}


@dataclass(frozen=True)
class CANode:
    """A CA in the tree, with its newest CRL and its children."""

    info: CAInfo
    crl: PublishedCRL
    children: tuple[CANode, ...]


def _tree(cas: list[CAInfo], crls: dict[str, PublishedCRL]) -> list[CANode]:
    names = {info.name for info in cas}

    def node(info: CAInfo) -> CANode:
        children = tuple(node(child) for child in cas if child.parent == info.name)
        return CANode(info=info, crl=crls[info.name], children=children)

    # A CA whose parent the caller cannot read is shown as a root of its own.
    return [node(info) for info in cas if info.parent is None or info.parent not in names]


def _page(
    request: Request,
    who: Caller,
    *,
    errors: FormErrors | None = None,
    form: str = "",
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    cas = readable_cas(who)
    crls = {info.name: latest_crl(who.runtime.ctx, info.name) for info in cas}
    grants = who.principal.grants
    issuing = [
        info.name for info in cas if is_allowed(grants, Permission.CA_ISSUE, resource=info.name)
    ]
    errors = errors or FormErrors()
    return render(
        request,
        "cas/page.html",
        caller=who,
        context={
            "tree": _tree(cas, crls),
            "count": len(cas),
            "is_admin": is_allowed(grants, Permission.ADMIN),
            "may_publish": {
                info.name: is_allowed(grants, Permission.CA_REVOKE, resource=info.name)
                for info in cas
            },
            "issue_ca_options": [(name, name) for name in issuing],
            "parent_options": [("", "(none: a new root CA)"), *((i.name, i.name) for i in cas)],
            "profile_options": [(p, p) for p in who.runtime.ctx.profiles.names()],
            "key_type_options": KEY_TYPE_OPTIONS,
            "create_errors": errors if form == "create" else {},
            "issue_errors": errors if form == "issue" else {},
            "bulk_errors": errors if form == "bulk" else {},
            "form": form,
            "values": values or {},
            "max_bulk": MAX_BULK,
        },
        status=status,
    )


@router.get("/cas", response_class=HTMLResponse)
async def show(request: Request, who: ConsoleCaller) -> HTMLResponse:
    """The CA hierarchy with CRLs and the forms the caller's grants allow."""
    return await blocking(lambda: _page(request, who))


def _refused(
    request: Request,
    who: Caller,
    *,
    form: str,
    values: dict[str, Any],
    errors: FormErrors,
    status: int,
) -> HTMLResponse:
    return _page(request, who, errors=errors, form=form, values=values, status=status)


@router.post("/cas/create", response_model=None)
async def create(
    request: Request,
    who: ConsoleCaller,
    _: CsrfChecked,
    name: Text = "",
    subject: Text = "",
    parent: Text = "",
    key_type: Text = "ec-p256",
    days: Text = "",
    path_length: Text = "",
) -> Response:
    """Create a root or intermediate CA (admin only)."""
    values = {
        "name": name,
        "subject": subject,
        "parent": parent,
        "key_type": key_type,
        "days": days,
        "path_length": path_length,
    }

    def work() -> Response:
        # The grant first, as in the API: without it a 403 page, whatever the form holds.
        who.require_for("ca.create", name or None, Permission.ADMIN)
        errors = FormErrors()
        if not name.strip():
            errors["name"] = "a CA needs a name"
        if not subject.strip():
            errors["subject"] = "a CA needs a subject, e.g. /CN=Example Issuing CA/O=Example"
        valid_days = optional_int(errors, "days", days, label="Validity", low=1, high=36500)
        length = optional_int(
            errors, "path_length", path_length, label="Path length", low=0, high=16
        )
        if errors:
            return _refused(request, who, form="create", values=values, errors=errors, status=400)
        try:
            info = create_ca_as(
                who,
                name=name.strip(),
                subject=subject.strip(),
                parent=parent or None,
                key_type=key_type,
                days=valid_days,
                path_length=length,
            )
        except AccessDenied:
            raise
        except CertwardError as exc:
            errors = field_errors(exc, _CREATE_FIELDS)
            return _refused(
                request, who, form="create", values=values, errors=errors, status=exc.status
            )
        kind = f"intermediate CA under {info.parent}" if info.parent else "root CA"
        return redirect(request, f"/cas#ca-{info.name}", flash=f"Created {kind} {info.name}.")

    return await blocking(work)


def _require_issue(who: Caller, ca: str, profile: str, name: str) -> None:
    # The grant first, as in the API: without it a 403 page (audited), whatever the form holds.
    who.require_for(
        "certificate.issue",
        name.strip() or None,
        Permission.CA_ISSUE,
        resource=ca or None,
        profile=profile or None,
    )


def _issue_values(errors: FormErrors, sans: str, days: str) -> tuple[list[str], int | None]:
    names = text_list(sans)
    try:
        parse_sans(names)
    except InvalidInput as exc:
        errors["sans"] = exc.message
    return names, optional_int(errors, "days", days, label="Validity", low=1, high=36500)


@router.post("/cas/issue", response_model=None)
async def issue(
    request: Request,
    who: ConsoleCaller,
    _: CsrfChecked,
    ca: Text = "",
    profile: Text = "",
    common_name: Text = "",
    sans: LongText = "",
    key_type: Text = "ec-p256",
    days: Text = "",
) -> Response:
    """Issue one certificate (key made and kept sealed here); go to its page."""
    values = {
        "ca": ca,
        "profile": profile,
        "common_name": common_name,
        "sans": sans,
        "key_type": key_type,
        "days": days,
    }

    def work() -> Response:
        _require_issue(who, ca, profile, common_name)
        errors = FormErrors()
        if not common_name.strip():
            errors["common_name"] = "a certificate needs a common name"
        names, valid_days = _issue_values(errors, sans, days)
        if errors:
            return _refused(request, who, form="issue", values=values, errors=errors, status=400)
        try:
            issued = issue_as(
                who,
                ca=ca,
                profile=profile,
                common_name=common_name.strip(),
                sans=names,
                key_type=key_type,
                days=valid_days,
            )
        except AccessDenied:
            raise
        except CertwardError as exc:
            errors = field_errors(exc, _ISSUE_FIELDS)
            return _refused(
                request, who, form="issue", values=values, errors=errors, status=exc.status
            )
        return redirect(
            request,
            f"/certificates/{issued.serial}",
            flash=f"Issued {issued.serial} for {common_name.strip()}.",
        )

    return await blocking(work)


@router.post("/cas/bulk-issue", response_model=None)
async def bulk_issue(
    request: Request,
    who: ConsoleCaller,
    _: CsrfChecked,
    ca: Text = "",
    profile: Text = "",
    prefix: Text = "",
    count: Text = "",
    key_type: Text = "ec-p256",
    days: Text = "",
) -> Response:
    """Issue ``count`` certificates named ``prefix-0001``...; progress on a job page.

    The first certificate is issued before the job starts, so a refused form
    changes nothing and shows its errors next to the fields. Each certificate is
    its own audited transaction; a failure later stops the job and says so.
    """
    values = {
        "ca": ca,
        "profile": profile,
        "prefix": prefix,
        "count": count,
        "key_type": key_type,
        "days": days,
    }

    def work() -> Response:
        _require_issue(who, ca, profile, prefix)
        errors = FormErrors()
        stem = prefix.strip()
        if not stem:
            errors["prefix"] = "the certificates need a common name prefix"
        elif len(stem) > 59:
            errors["prefix"] = "the prefix must be at most 59 characters (names get -0001 etc.)"
        total = optional_int(errors, "count", count, label="Count", low=1, high=MAX_BULK)
        if total is None and "count" not in errors:
            errors["count"] = f"how many certificates (1-{MAX_BULK})?"
        valid_days = optional_int(errors, "days", days, label="Validity", low=1, high=36500)
        if errors or total is None:
            return _refused(request, who, form="bulk", values=values, errors=errors, status=400)

        def one(index: int) -> str:
            issued = issue_as(
                who,
                ca=ca,
                profile=profile,
                common_name=f"{stem}-{index:04d}",
                key_type=key_type,
                days=valid_days,
            )
            return issued.serial

        try:
            one(1)
        except AccessDenied:
            raise
        except CertwardError as exc:
            errors = field_errors(exc, {**_ISSUE_FIELDS, InvalidSubject: "prefix"})
            return _refused(
                request, who, form="bulk", values=values, errors=errors, status=exc.status
            )

        def rest(progress: Progress) -> JobResult:
            progress.advance()
            for index in range(2, total + 1):
                one(index)
                progress.advance()
            return JobResult(
                summary=f"Issued {total} certificates {stem}-0001 to {stem}-{total:04d}.",
                link=f"/certificates?q={stem}-",
                link_label="Show them",
            )

        job_id = start_job(who, title=f"Issuing {total} certificates", total=total, work=rest)
        return redirect(request, f"/jobs/{job_id}")

    return await blocking(work)


@router.post("/cas/{name}/crl", response_model=None)
async def publish(request: Request, name: CAName, who: ConsoleCaller, _: CsrfChecked) -> Response:
    """Publish the next CRL of the CA now; progress on a job page."""

    def work() -> Response:
        # Refused (and audited) here, not in the job: a 403 page rather than a failed job.
        who.require_for("crl.publish", name, Permission.CA_REVOKE, resource=name)
        entries = latest_crl(who.runtime.ctx, name).entries  # 404 for an unknown CA

        def run(progress: Progress) -> JobResult:
            crl = publish_crl_as(who, name)
            progress.advance()
            return JobResult(
                summary=(
                    f"Published CRL number {crl.number} of {crl.ca_name}: "
                    f"{crl.entries} revoked certificate(s), next update {crl.next_update:%Y-%m-%d}."
                ),
                link=f"/cas#ca-{crl.ca_name}",
                link_label="Back to the CAs",
            )

        title = f"Publishing the CRL of {name} (about {entries} entries)"
        job_id = start_job(who, title=title, total=1, work=run)
        return redirect(request, f"/jobs/{job_id}")

    return await blocking(work)


PAGE = Page(name="cas", title="CAs", path="/cas", router=router)
