"""The certificates page: search the inventory, see one certificate, download, revoke.

Listing uses the same keyset-paged inventory query as ``GET /v1/certificates``
(newest first, a cursor to the next page), so it stays fast on large inventories.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from certward.access.grants import Permission, is_allowed
from certward.ca.authority import ca_chain
from certward.ca.inventory import CertificateStatus, CertificateSummary
from certward.ca.revoke import REASON_NAMES
from certward.crypto.formats import certificate_pem, chain_pem
from certward.errors import (
    AccessDenied,
    CANotFound,
    CertwardError,
    InvalidInput,
    NotRevocable,
    PasswordError,
)
from certward.server.auth import Caller, blocking
from certward.server.ca_calls import (
    export_pkcs12_as,
    list_certificates_as,
    read_certificate_as,
    readable_cas,
    revoke_as,
)
from certward.server.console.form_values import FormErrors, field_errors
from certward.server.console.page import Page
from certward.server.console.render import redirect, render
from certward.server.console.security import ConsoleCaller, CsrfChecked
from certward.server.console.x509_view import extension_views, fingerprint_sha256

__all__ = ["PAGE", "router"]

router = APIRouter()
PAGE_SIZE = 50
Serial = Annotated[str, Path(min_length=1, max_length=64)]
STATUS_OPTIONS = [("", "any state"), *((s.value, s.value) for s in CertificateStatus)]
EXPIRY_OPTIONS = [("", "any time"), ("7", "7 days"), ("30", "30 days"), ("90", "90 days")]
REASON_OPTIONS = [("", "(no reason)"), *((name, name) for name in REASON_NAMES)]


def _filters(
    q: str, ca: str, status: str, expiring: str
) -> tuple[dict[str, Any], FormErrors, CertificateStatus | None, int | None]:
    errors = FormErrors()
    state = None
    if status:
        try:
            state = CertificateStatus(status)
        except ValueError:
            errors["status"] = f"unknown state {status!r}"
    days = None
    if expiring:
        if expiring.isdigit() and 1 <= int(expiring) <= 3650:
            days = int(expiring)
        else:
            errors["expiring"] = "expiring within must be a number of days (1-3650)"
    values = {"q": q, "ca": ca, "status": status, "expiring": expiring}
    return values, errors, state, days


@router.get("/certificates", response_class=HTMLResponse)
async def list_page(
    request: Request,
    who: ConsoleCaller,
    q: Annotated[str, Query(max_length=256)] = "",
    ca: Annotated[str, Query(max_length=64)] = "",
    status: Annotated[str, Query(max_length=16)] = "",
    expiring: Annotated[str, Query(max_length=8)] = "",
    cursor: Annotated[str | None, Query(max_length=32)] = None,
) -> HTMLResponse:
    """The inventory, newest first, searched and filtered, a page at a time."""
    values, errors, state, days = _filters(q, ca, status, expiring)

    def work() -> tuple[list[CertificateSummary], str | None, list[str], int]:
        cas = [info.name for info in readable_cas(who)]
        if errors:
            return [], None, cas, 400
        expiring_before = None
        if days is not None:
            expiring_before = who.runtime.ctx.clock() + timedelta(days=days)
        try:
            page = list_certificates_as(
                who,
                ca=ca or None,
                status=state,
                expiring_before=expiring_before,
                search=q or None,
                limit=PAGE_SIZE,
                cursor=cursor,
            )
        except AccessDenied:
            raise
        except CertwardError as exc:
            errors.update(field_errors(exc, {CANotFound: "ca", InvalidInput: "_form"}))
            return [], None, cas, exc.status
        return list(page.items), page.next_cursor, cas, 200

    items, next_cursor, cas, code = await blocking(work)
    return render(
        request,
        "certificates/list.html",
        caller=who,
        context={
            "items": items,
            "next_cursor": next_cursor,
            "paged": cursor is not None,
            "values": values,
            "errors": errors,
            "ca_options": [("", "every CA"), *((name, name) for name in cas)],
            "status_options": STATUS_OPTIONS,
            "expiry_options": EXPIRY_OPTIONS,
            "query_of": _query_of(values),
        },
        status=code,
    )


def _query_of(values: dict[str, Any]) -> str:
    return urlencode({key: value for key, value in values.items() if value})


def _detail(
    request: Request,
    who: Caller,
    item: CertificateSummary,
    *,
    errors: FormErrors | None = None,
    form: str = "",
    status: int = 200,
) -> HTMLResponse:
    certificate = item.certificate
    chain = ca_chain(who.runtime.ctx, item.ca_name)
    grants = who.principal.grants
    return render(
        request,
        "certificates/detail.html",
        caller=who,
        context={
            "item": item,
            "fingerprint": fingerprint_sha256(certificate),
            "issuer": certificate.issuer.rfc4514_string(),
            "extensions": extension_views(certificate),
            "chain": [
                {"subject": c.subject.rfc4514_string(), "not_after": c.not_valid_after_utc}
                for c in chain
            ],
            "pem": certificate_pem(certificate).decode(),
            "reason_options": REASON_OPTIONS,
            "may_revoke": is_allowed(grants, Permission.CA_REVOKE, resource=item.ca_name),
            "may_export": is_allowed(grants, Permission.ADMIN),
            "pkcs12_errors": (errors or {}) if form == "pkcs12" else {},
            "revoke_errors": (errors or {}) if form == "revoke" else {},
        },
        status=status,
    )


@router.get("/certificates/{serial}", response_class=HTMLResponse)
async def detail_page(request: Request, serial: Serial, who: ConsoleCaller) -> HTMLResponse:
    """One certificate: facts, extensions, chain, downloads and (with the grant) revocation."""
    return await blocking(lambda: _detail(request, who, read_certificate_as(who, serial)))


def _download(content: bytes, filename: str, media_type: str) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/certificates/{serial}/certificate.pem", response_class=Response)
async def download_certificate(serial: Serial, who: ConsoleCaller) -> Response:
    """The certificate (PEM)."""
    item = await blocking(lambda: read_certificate_as(who, serial))
    pem = certificate_pem(item.certificate)
    return _download(pem, f"{item.serial}.crt", "application/x-pem-file")


@router.get("/certificates/{serial}/chain.pem", response_class=Response)
async def download_chain(serial: Serial, who: ConsoleCaller) -> Response:
    """The certificate and its issuer chain up to the root (PEM)."""

    def work() -> tuple[CertificateSummary, bytes]:
        item = read_certificate_as(who, serial)
        chain = ca_chain(who.runtime.ctx, item.ca_name)
        return item, chain_pem([item.certificate, *chain])

    item, pem = await blocking(work)
    return _download(pem, f"{item.serial}.chain.pem", "application/x-pem-file")


@router.post("/certificates/{serial}/pkcs12", response_model=None)
async def download_pkcs12(
    request: Request,
    serial: Serial,
    who: ConsoleCaller,
    _: CsrfChecked,
    password: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Key, certificate and chain as PKCS#12, encrypted with ``password`` (admin only)."""

    def work() -> Response:
        try:
            bundle = export_pkcs12_as(who, serial, password=password)
        except AccessDenied:
            raise
        except CertwardError as exc:
            item = read_certificate_as(who, serial)
            errors = field_errors(exc, {PasswordError: "password", InvalidInput: "password"})
            return _detail(request, who, item, errors=errors, form="pkcs12", status=exc.status)
        return _download(bundle, f"{serial}.p12", "application/x-pkcs12")

    return await blocking(work)


@router.post("/certificates/{serial}/revoke", response_model=None)
async def revoke(
    request: Request,
    serial: Serial,
    who: ConsoleCaller,
    _: CsrfChecked,
    reason: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Revoke the certificate; the page waits until its CA's next CRL lists it."""

    def work() -> Response:
        try:
            revoked, crl_number = revoke_as(who, serial, reason=reason or None, wait_for_crl=True)
        except AccessDenied:
            raise
        except CertwardError as exc:
            item = read_certificate_as(who, serial)
            errors = field_errors(exc, {InvalidInput: "reason", NotRevocable: "_form"})
            return _detail(request, who, item, errors=errors, form="revoke", status=exc.status)
        return redirect(
            request,
            f"/certificates/{revoked.serial}",
            flash=(
                f"Revoked {revoked.serial}; CRL number {crl_number} of {revoked.ca_name} lists it."
                if crl_number is not None
                else f"Revoked {revoked.serial}; the next CRL of {revoked.ca_name} will list it."
            ),
        )

    return await blocking(work)


PAGE = Page(name="certificates", title="Certificates", path="/certificates", router=router)
