"""The service slots page: the OpenBMC-style SSL certificates page of every managed slot.

Each slot shows its current certificate(s) with subject, issuer and validity, and
the forms to install, replace and delete them (file uploads of the certificate and
key PEM) and to generate a CSR (seed 002's fields; the CSR's form fields and job
pages are in :mod:`.slot_csr`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from certward.access.grants import Permission, is_allowed
from certward.certs.certificates import SlotCertificate
from certward.certs.manager import list_certificates
from certward.certs.slots import SlotSpec, get_slot
from certward.errors import (
    AccessDenied,
    CertificateKeyMismatch,
    CertwardError,
    DuplicateCertificate,
    InvalidCertificate,
    SlotLimitReached,
    SlotNotAllowed,
)
from certward.server.auth import Caller, blocking
from certward.server.console.form_values import FormErrors, field_errors
from certward.server.console.page import Page
from certward.server.console.pages import slot_csr
from certward.server.console.pages.slot_csr import csr_errors, csr_form_context, read_csr_form
from certward.server.console.render import redirect, render
from certward.server.console.security import ConsoleCaller, CsrfChecked
from certward.server.slot_calls import (
    delete_slot_certificate_as,
    install_slot_certificate_as,
    manageable_slots,
    replace_slot_certificate_as,
    submit_csr_as,
)
from certward.server.slot_schemas import CertificateUpload

__all__ = ["PAGE", "router"]

router = APIRouter()
# The CSR job pages first: "/slots/csr/{id}" would match "/slots/{kind}/{label}" too.
router.add_api_route("/slots/csr/{job_id}", slot_csr.csr_job, response_class=HTMLResponse)
router.add_api_route(
    "/slots/csr/{job_id}/status", slot_csr.csr_job_status, response_class=HTMLResponse
)
router.add_api_route("/slots/csr/{job_id}/csr.pem", slot_csr.csr_download, response_model=None)
EXPIRING_SOON = timedelta(days=30)
Kind = Annotated[str, Path(pattern=r"^(server|client|authority)$")]
Label = Annotated[str, Path(min_length=1, max_length=64)]
CertId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]
Text = Annotated[str, Form(max_length=1024)]
Upload = Annotated[UploadFile | None, File()]

# Where a refused upload's message goes. The key mismatch first: it is an InvalidCertificate.
_UPLOAD_FIELDS: dict[type[CertwardError], str] = {
    CertificateKeyMismatch: "key",
    InvalidCertificate: "certificate",
    SlotLimitReached: "certificate",
    DuplicateCertificate: "certificate",
    SlotNotAllowed: "_form",
}


@dataclass(frozen=True)
class SlotRow:
    """A slot in the list, with what it holds."""

    spec: SlotSpec
    certificates: tuple[SlotCertificate, ...]


def _name(kind: str, label: str) -> str:
    return f"{kind}/{label}"


def validity(certificate: SlotCertificate, now: datetime) -> tuple[str, str]:
    """(badge class, text) for how long ``certificate`` is still valid."""
    if certificate.not_after <= now:
        return "expired", "expired"
    if certificate.not_before > now:
        return "warn", "not yet valid"
    if certificate.not_after - now <= EXPIRING_SOON:
        return "warn", "expiring soon"
    return "valid", "valid"


@router.get("/slots", response_class=HTMLResponse)
async def show(request: Request, who: ConsoleCaller) -> HTMLResponse:
    """Every slot the caller may manage, with its current certificate."""

    def work() -> HTMLResponse:
        if not is_allowed(who.principal.grants, Permission.CERTS_MANAGE):
            return render(request, "slots/list.html", caller=who, context={"rows": None})
        ctx = who.runtime.ctx
        rows = [
            SlotRow(spec=spec, certificates=tuple(list_certificates(ctx, spec.name)))
            for spec in manageable_slots(who)
        ]
        return render(
            request,
            "slots/list.html",
            caller=who,
            context={"rows": rows, "now": ctx.clock(), "validity": validity},
        )

    return await blocking(work)


# -- one slot ------------------------------------------------------------------------------


def _slot_page(
    request: Request,
    who: Caller,
    name: str,
    *,
    errors: FormErrors | None = None,
    form: str = "",
    target: str | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The page of slot ``name``; ``form`` (+ ``target`` certificate) names a refused form."""
    who.require(Permission.CERTS_MANAGE, resource=name)
    ctx = who.runtime.ctx
    spec = get_slot(ctx, name)
    certificates = list_certificates(ctx, name)
    errors = errors or FormErrors()
    return render(
        request,
        "slots/slot.html",
        caller=who,
        context={
            "spec": spec,
            "certificates": certificates,
            "room": len(certificates) < spec.capacity,
            "now": ctx.clock(),
            "validity": validity,
            "form": form,
            "target": target,
            "form_errors": errors,
            "values": values or {},
            **csr_form_context(who),
        },
        status=status,
    )


@router.get("/slots/{kind}/{label}", response_class=HTMLResponse)
async def slot(request: Request, kind: Kind, label: Label, who: ConsoleCaller) -> HTMLResponse:
    """One slot: its certificates, and the forms to change them."""
    return await blocking(lambda: _slot_page(request, who, _name(kind, label)))


async def _read_upload(upload: UploadFile | None, limit: int) -> str | None:
    # A file input left empty arrives as a part with no file name and no content.
    if upload is None or (not upload.filename and not upload.size):
        return None
    data = await upload.read(limit)
    # Not text means not PEM: the service says so in its own words.
    return data.decode("utf-8", errors="replace")


_MAX_UPLOAD = 262_144 + 1  # one more than the API takes: its check answers for us


def _upload(
    errors: FormErrors, certificate: str | None, key: str | None, password: str
) -> CertificateUpload | None:
    """The upload checked by the API's own schema (sizes); None with errors set."""
    if certificate is None:
        errors["certificate"] = "choose the certificate file (PEM) to upload"
        return None
    try:
        return CertificateUpload(
            certificate_pem=certificate, key_pem=key, password=password or None
        )
    except ValidationError as exc:
        for problem in exc.errors():
            where = str(problem["loc"][0]) if problem["loc"] else "_form"
            field = {"certificate_pem": "certificate", "key_pem": "key"}.get(where, where)
            errors.setdefault(field, f"{field}: {problem['msg']}")
        return None


async def _change(
    request: Request,
    who: Caller,
    kind: str,
    label: str,
    *,
    form: str,
    cert_id: str | None,
    certificate: UploadFile | None,
    key: UploadFile | None,
    password: str,
) -> Response:
    """Install (``cert_id`` None) or replace a certificate from the uploaded files."""
    slot_name = _name(kind, label)
    certificate_text = await _read_upload(certificate, _MAX_UPLOAD)
    key_text = await _read_upload(key, _MAX_UPLOAD)

    def work() -> Response:
        # The grant first, as in the API: without it a 403 page (audited), whatever the form.
        action = "slot.install" if cert_id is None else "slot.replace"
        who.require_for(action, slot_name, Permission.CERTS_MANAGE, resource=slot_name)
        errors = FormErrors()
        upload = _upload(errors, certificate_text, key_text, password)
        if upload is None:
            return _slot_page(
                request, who, slot_name, errors=errors, form=form, target=cert_id, status=400
            )
        certificate_pem = upload.certificate_pem.encode()
        key_pem = upload.key_pem.encode() if upload.key_pem else None
        secret = upload.password.encode() if upload.password else None
        try:
            if cert_id is None:
                done = install_slot_certificate_as(
                    who, slot_name, certificate_pem, key_pem=key_pem, password=secret
                )
            else:
                done = replace_slot_certificate_as(
                    who, slot_name, cert_id, certificate_pem, key_pem=key_pem, password=secret
                )
        except AccessDenied:
            raise
        except CertwardError as exc:
            errors = field_errors(exc, _UPLOAD_FIELDS)
            return _slot_page(
                request,
                who,
                slot_name,
                errors=errors,
                form=form,
                target=cert_id,
                status=exc.status,
            )
        verb = "Installed" if cert_id is None else "Replaced the certificate with"
        return redirect(
            request, f"/slots/{slot_name}", flash=f"{verb} {done.subject} (id {done.id})."
        )

    return await blocking(work)


@router.post("/slots/{kind}/{label}/install", response_model=None)
async def install(
    request: Request,
    kind: Kind,
    label: Label,
    who: ConsoleCaller,
    _: CsrfChecked,
    certificate: Upload = None,
    key: Upload = None,
    password: Text = "",
) -> Response:
    """Install a certificate (key in its file, in the key file, or the slot's CSR key)."""
    return await _change(
        request,
        who,
        kind,
        label,
        form="install",
        cert_id=None,
        certificate=certificate,
        key=key,
        password=password,
    )


@router.post("/slots/{kind}/{label}/certificates/{cert_id}/replace", response_model=None)
async def replace(
    request: Request,
    kind: Kind,
    label: Label,
    cert_id: CertId,
    who: ConsoleCaller,
    _: CsrfChecked,
    certificate: Upload = None,
    key: Upload = None,
    password: Text = "",
) -> Response:
    """Replace one certificate of the slot with the uploaded one."""
    return await _change(
        request,
        who,
        kind,
        label,
        form="replace",
        cert_id=cert_id,
        certificate=certificate,
        key=key,
        password=password,
    )


@router.post("/slots/{kind}/{label}/certificates/{cert_id}/delete", response_model=None)
async def delete(
    request: Request,
    kind: Kind,
    label: Label,
    cert_id: CertId,
    who: ConsoleCaller,
    _: CsrfChecked,
) -> Response:
    """Delete one certificate; a server slot gets a self-signed one in its place."""
    slot_name = _name(kind, label)

    def work() -> Response:
        try:
            fallback = delete_slot_certificate_as(who, slot_name, cert_id)
        except AccessDenied:
            raise
        except CertwardError as exc:
            errors = FormErrors({"_form": exc.message})
            return _slot_page(
                request,
                who,
                slot_name,
                errors=errors,
                form="delete",
                target=cert_id,
                status=exc.status,
            )
        flash = f"Deleted certificate {cert_id}."
        if fallback is not None:
            flash += f" The slot now serves a self-signed certificate ({fallback.subject})."
        return redirect(request, f"/slots/{slot_name}", flash=flash)

    return await blocking(work)


@router.post("/slots/{kind}/{label}/csr", response_model=None)
async def generate_csr(
    request: Request,
    kind: Kind,
    label: Label,
    who: ConsoleCaller,
    _: CsrfChecked,
) -> Response:
    """Start a CSR job with the form's fields; go to its page (which polls it)."""
    slot_name = _name(kind, label)
    posted = read_csr_form(await request.form())

    def refused(errors: FormErrors, status: int) -> HTMLResponse:
        return _slot_page(
            request, who, slot_name, errors=errors, form="csr", values=posted.shown, status=status
        )

    def work() -> Response:
        who.require_for("slot.csr", slot_name, Permission.CERTS_MANAGE, resource=slot_name)
        if posted.errors:
            return refused(posted.errors, 400)
        try:
            job = submit_csr_as(
                who,
                slot_name,
                posted.fields,
                sign_with=posted.sign_with,
                profile=posted.profile,
            )
        except AccessDenied:
            raise
        except CertwardError as exc:
            return refused(csr_errors(exc), exc.status)
        return redirect(request, f"/slots/csr/{job.id}")

    return await blocking(work)


PAGE = Page(name="slots", title="Service slots", path="/slots", router=router)
