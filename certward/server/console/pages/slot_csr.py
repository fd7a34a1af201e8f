"""The CSR part of the slots page: seed 002's fields, reading the form, and the job pages.

The form posts to ``/slots/{kind}/{label}/csr`` (in :mod:`.slots`, which shows it
again with the errors); the job it starts is stored in the database, so its page
(:func:`csr_job`), the htmx fragment it polls (:func:`csr_job_status`) and the
download (:func:`csr_download`) are answered by any worker or node. The slots page
registers them under ``/slots/csr/{job_id}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Path, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from certward.access.grants import Permission, is_allowed
from certward.ca.authority import list_cas
from certward.certs.csr import KEY_USAGES, REQUIRED_FIELDS
from certward.certs.jobs import CSRJob
from certward.errors import CANotFound, CertwardError, Conflict, InvalidCSRRequest, ProfileNotFound
from certward.server.auth import Caller, blocking
from certward.server.console.form_values import FormErrors, field_errors, text_list
from certward.server.console.render import render
from certward.server.console.security import ConsoleCaller
from certward.server.slot_calls import read_csr_job_as

__all__ = [
    "CSRForm",
    "csr_download",
    "csr_errors",
    "csr_form_context",
    "csr_job",
    "csr_job_status",
    "read_csr_form",
]

JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
_MAX_FIELD = 1024
_ERROR_FIELDS: dict[type[CertwardError], str] = {
    CANotFound: "sign_with",
    ProfileNotFound: "profile",
}
# Seed 002's (Redfish GenerateCSR) subject fields, required ones first.
TEXT_FIELDS = (
    ("common_name", "Common name"),
    ("organization", "Organization"),
    ("organizational_unit", "Organizational unit"),
    ("city", "City"),
    ("state", "State"),
    ("country", "Country"),
    ("email", "E-mail"),
    ("contact_person", "Contact person"),
    ("given_name", "Given name"),
    ("surname", "Surname"),
    ("initials", "Initials"),
    ("unstructured_name", "Unstructured name"),
)
ALGORITHM_OPTIONS = [("EC", "EC"), ("RSA", "RSA"), ("Ed25519", "Ed25519")]
BITS_OPTIONS = [
    ("", "default (EC: by curve, RSA: 2048)"),
    ("2048", "2048"),
    ("3072", "3072"),
    ("4096", "4096"),
    ("256", "256 (EC)"),
    ("384", "384 (EC)"),
]
CURVE_OPTIONS = [
    ("", "default (secp384r1)"),
    ("secp256r1", "secp256r1 (P-256)"),
    ("secp384r1", "secp384r1 (P-384)"),
]
# Every field of the form (a service error naming another goes to the whole form).
FORM_FIELDS = frozenset(
    {
        *(name for name, _ in TEXT_FIELDS),
        "alternative_names",
        "challenge_password",
        "key_pair_algorithm",
        "key_bit_length",
        "key_curve_id",
        "key_usage",
        "sign_with",
        "profile",
    }
)


@dataclass(frozen=True)
class CSRForm:
    """A posted CSR form: the request fields for the service, what to show again, and errors."""

    fields: dict[str, Any]
    shown: dict[str, Any]  # the form's values without the challenge password
    errors: FormErrors
    sign_with: str | None
    profile: str | None


def read_csr_form(form: FormData) -> CSRForm:
    """The snake_case request fields of a posted form (the service checks their values)."""
    values = {
        name: value.strip()[:_MAX_FIELD]
        for name, value in form.multi_items()
        if isinstance(value, str) and name in FORM_FIELDS and name != "key_usage"
    }
    usages = [value for value in form.getlist("key_usage") if isinstance(value, str)]
    errors = FormErrors()
    fields: dict[str, Any] = {
        name: values[name]
        for name in (
            *(n for n, _ in TEXT_FIELDS),
            "challenge_password",
            "key_pair_algorithm",
            "key_curve_id",
        )
        if values.get(name)
    }
    fields["alternative_names"] = text_list(values.get("alternative_names", ""))
    fields["key_usage"] = usages
    bits = values.get("key_bit_length", "")
    if bits.isdigit():
        fields["key_bit_length"] = int(bits)
    elif bits:
        errors["key_bit_length"] = "key_bit_length must be a whole number"
    shown: dict[str, Any] = {**values, "key_usage": usages}
    shown.pop("challenge_password", None)
    sign_with = values.get("sign_with") or None
    profile = (values.get("profile") or None) if sign_with else None
    return CSRForm(fields, shown, errors, sign_with, profile)


def csr_errors(exc: CertwardError) -> FormErrors:
    """A refused CSR request's message, next to the field it names."""
    if isinstance(exc, InvalidCSRRequest):
        field = exc.field if exc.field in FORM_FIELDS else None
        return FormErrors({field or "_form": exc.message})
    return field_errors(exc, _ERROR_FIELDS)


def _signing_cas(who: Caller) -> list[str]:
    grants = who.principal.grants
    if not is_allowed(grants, Permission.CA_ISSUE):
        return []
    return [
        info.name
        for info in list_cas(who.runtime.ctx)
        if is_allowed(grants, Permission.CA_ISSUE, resource=info.name)
    ]


def csr_form_context(who: Caller) -> dict[str, Any]:
    """What the slot page's CSR form is drawn from (the CAs the caller may sign with)."""
    return {
        "csr_fields": TEXT_FIELDS,
        "required": REQUIRED_FIELDS,
        "key_usages": KEY_USAGES,
        "algorithm_options": ALGORITHM_OPTIONS,
        "bits_options": BITS_OPTIONS,
        "curve_options": CURVE_OPTIONS,
        "sign_options": [("", "(no: download the CSR)"), *((n, n) for n in _signing_cas(who))],
        "profile_options": [("", "(the slot's default)")]
        + [(p, p) for p in who.runtime.ctx.profiles.names()],
    }


# -- the job pages ---------------------------------------------------------------------------


def _job_context(job: CSRJob) -> dict[str, Any]:
    return {"job": job}


async def csr_job(request: Request, job_id: JobId, who: ConsoleCaller) -> HTMLResponse:
    """A CSR job's page: its state, refreshed by polling, and the CSR once made."""
    job = await blocking(lambda: read_csr_job_as(who, job_id))
    return render(request, "slots/csr_job.html", caller=who, context=_job_context(job))


async def csr_job_status(request: Request, job_id: JobId, who: ConsoleCaller) -> HTMLResponse:
    """The job's state as a fragment (htmx swaps it in place of itself until done)."""
    job = await blocking(lambda: read_csr_job_as(who, job_id))
    return render(request, "slots/csr_status.html", caller=who, context=_job_context(job))


async def csr_download(job_id: JobId, who: ConsoleCaller) -> Response:
    """The CSR (PEM) of a finished job; the 409 page while there is none."""
    job = await blocking(lambda: read_csr_job_as(who, job_id))
    if job.csr_pem is None:
        raise Conflict(f"CSR job {job_id} has no CSR yet (it is {job.state.value})")
    file_name = job.slot.replace("/", "-")
    return Response(
        job.csr_pem,
        media_type="application/pkcs10",
        headers={"content-disposition": f'attachment; filename="{file_name}.csr"'},
    )
