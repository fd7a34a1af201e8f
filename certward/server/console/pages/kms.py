"""The KMS keys page: the keys, creating one, its lifecycle, and who used it for what.

The list shows the keys the caller may manage or describe (as the API's describe
does); a key's page shows its versions, the lifecycle actions the caller's grants
allow (rotate, enable/disable, schedule or cancel deletion) and its use as the
audit log records it: a summary by principal and operation, then every event.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from certward.access.audit import AuditEvent, AuditPage
from certward.access.grants import Permission, is_allowed
from certward.errors import (
    AccessDenied,
    CertwardError,
    InvalidInput,
    KmsAliasExists,
    KmsIncorrectKeyUsage,
)
from certward.kms.keys import (
    KeyInfo,
    alias_name,
    check_description,
    check_rotation_period,
    list_keys,
)
from certward.kms.permissions import may_use_key
from certward.kms.specs import KeyOrigin, KeySpec, KeyUsage, check_usage
from certward.server.auth import Caller, blocking
from certward.server.console.form_values import FormErrors, field_errors, optional_int
from certward.server.console.page import Page
from certward.server.console.render import redirect, render
from certward.server.console.security import ConsoleCaller, CsrfChecked
from certward.server.kms_key_calls import (
    cancel_key_deletion_as,
    create_key_as,
    describe_key_as,
    disable_key_as,
    enable_key_as,
    key_events_as,
    rotate_key_as,
    schedule_key_deletion_as,
)

__all__ = ["PAGE", "router"]

router = APIRouter()
KEYS_PER_PAGE = 50
EVENTS_PER_PAGE = 50
SUMMARY_EVENTS = 1000  # the usage summary covers this many newest events
KeyId = Annotated[
    str, Path(pattern=r"^key-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]
Cursor = Annotated[str | None, Query(max_length=32, pattern=r"^[0-9]+$")]
Text = Annotated[str, Form(max_length=1024)]
SPEC_OPTIONS = [(spec.value, spec.value) for spec in KeySpec]
USAGE_OPTIONS = [(usage.value, usage.value) for usage in KeyUsage]
ORIGIN_OPTIONS = [
    (KeyOrigin.CERTWARD.value, "made here (CERTWARD)"),
    (KeyOrigin.EXTERNAL.value, "imported later (EXTERNAL, bring your own key)"),
]
_CREATE_FIELDS: dict[type[CertwardError], str] = {
    KmsAliasExists: "alias",
    KmsIncorrectKeyUsage: "usage",
}


@dataclass(frozen=True)
class UsageLine:
    """How often one principal did one thing with the key (from the audit log)."""

    principal: str
    action: str
    ok: int
    refused: int


def _may_see(who: Caller, info: KeyInfo) -> bool:
    names = (info.key_id, *info.aliases)
    grants = who.principal.grants
    return may_use_key(grants, Permission.KMS_MANAGE, names) or may_use_key(
        grants, Permission.KMS_USE, names, operation="describe"
    )


def _may_manage(who: Caller, info: KeyInfo) -> bool:
    return may_use_key(who.principal.grants, Permission.KMS_MANAGE, (info.key_id, *info.aliases))


def _may_read_usage(who: Caller, info: KeyInfo) -> bool:
    return is_allowed(who.principal.grants, Permission.AUDIT_READ) or _may_manage(who, info)


def _list_page(
    request: Request,
    who: Caller,
    *,
    cursor: str | None = None,
    errors: FormErrors | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    grants = who.principal.grants
    readers = is_allowed(grants, Permission.KMS_MANAGE) or is_allowed(
        grants, Permission.KMS_USE, operation="describe"
    )
    context: dict[str, Any] = {
        "keys": None,
        "next_cursor": None,
        "may_create": is_allowed(grants, Permission.KMS_MANAGE),
        "create_errors": errors or FormErrors(),
        "values": values or {},
        "spec_options": SPEC_OPTIONS,
        "usage_options": USAGE_OPTIONS,
        "origin_options": ORIGIN_OPTIONS,
    }
    if readers:
        page = list_keys(who.runtime.ctx, limit=KEYS_PER_PAGE, cursor=cursor)
        context["keys"] = [info for info in page.items if _may_see(who, info)]
        context["next_cursor"] = page.next_cursor
    return render(request, "kms/list.html", caller=who, context=context, status=status)


@router.get("/kms", response_class=HTMLResponse)
async def show(request: Request, who: ConsoleCaller, cursor: Cursor = None) -> HTMLResponse:
    """The keys the caller may see, newest first, and the form to create one."""
    return await blocking(lambda: _list_page(request, who, cursor=cursor))


def _create_values(
    errors: FormErrors, values: dict[str, str]
) -> tuple[KeySpec, KeyUsage, KeyOrigin, str | None, int | None] | None:
    """The form's values checked by the service's own checks, each error next to its field."""
    spec = usage = None
    try:
        spec = KeySpec(values["spec"])
    except ValueError:
        errors["spec"] = f"unknown key spec {values['spec']!r}"
    try:
        usage = KeyUsage(values["usage"])
    except ValueError:
        errors["usage"] = f"unknown key usage {values['usage']!r}"
    origin = (
        KeyOrigin.EXTERNAL if values["origin"] == KeyOrigin.EXTERNAL.value else KeyOrigin.CERTWARD
    )
    alias = values["alias"] or None
    if alias is not None and not alias.startswith("alias/"):
        alias = f"alias/{alias}"
    days = optional_int(
        errors,
        "rotation_period_days",
        values["rotation_period_days"],
        label="Rotation",
        low=0,
        high=100_000,
    )
    checks = (
        ("usage", lambda: check_usage(spec, usage) if spec and usage else None),
        ("alias", lambda: alias_name(alias) if alias else None),
        ("description", lambda: check_description(values["description"])),
        ("rotation_period_days", lambda: check_rotation_period(days)),
    )
    for field, check in checks:
        if field in errors:
            continue
        try:
            check()
        except InvalidInput as exc:
            errors[field] = exc.message
    if errors or spec is None or usage is None:
        return None
    return spec, usage, origin, alias, days


@router.post("/kms/create", response_model=None)
async def create(
    request: Request,
    who: ConsoleCaller,
    _: CsrfChecked,
    spec: Text = "",
    usage: Text = "",
    origin: Text = "CERTWARD",
    alias: Text = "",
    description: Annotated[str, Form(max_length=4096)] = "",
    rotation_period_days: Text = "",
) -> Response:
    """Create a key; go to its page."""
    values = {
        "spec": spec,
        "usage": usage,
        "origin": origin,
        "alias": alias.strip(),
        "description": description.strip(),
        "rotation_period_days": rotation_period_days,
    }

    def work() -> Response:
        # The grant first, as in the API: without any kms.manage a 403 page (audited).
        who.require_for("kms.key.create", None, Permission.KMS_MANAGE)
        errors = FormErrors()
        checked = _create_values(errors, values)
        if checked is None:
            return _list_page(request, who, errors=errors, values=values, status=400)
        key_spec, key_usage, key_origin, key_alias, days = checked
        try:
            info = create_key_as(
                who,
                spec=key_spec,
                usage=key_usage,
                origin=key_origin,
                description=values["description"],
                alias=key_alias,
                rotation_period_days=days,
            )
        except AccessDenied:
            raise
        except CertwardError as exc:
            errors = field_errors(exc, _CREATE_FIELDS)
            return _list_page(request, who, errors=errors, values=values, status=exc.status)
        name = info.aliases[0] if info.aliases else info.key_id
        return redirect(request, f"/kms/keys/{info.key_id}", flash=f"Created key {name}.")

    return await blocking(work)


# -- one key ------------------------------------------------------------------------------


def _usage_summary(events: tuple[AuditEvent, ...]) -> list[UsageLine]:
    ok: Counter[tuple[str, str]] = Counter()
    refused: Counter[tuple[str, str]] = Counter()
    for event in events:
        if not event.action.startswith("kms.") or event.action.startswith("kms.key."):
            continue  # management of the key, not use
        count = event.details.get("count", 1)
        where = ok if event.result == "ok" else refused
        where[(event.principal or "—", event.action.removeprefix("kms."))] += (
            count if isinstance(count, int) else 1
        )
    keys = sorted(set(ok) | set(refused), key=lambda k: (-(ok[k] + refused[k]), k))
    return [UsageLine(p, a, ok[(p, a)], refused[(p, a)]) for p, a in keys]


def _key_page(
    request: Request,
    who: Caller,
    key_id: str,
    *,
    cursor: str | None = None,
    errors: FormErrors | None = None,
    status: int = 200,
) -> HTMLResponse:
    info = describe_key_as(who, key_id)
    events: AuditPage | None = None
    summary: list[UsageLine] = []
    summarised = 0
    if _may_read_usage(who, info):
        events = key_events_as(who, info.key_id, limit=EVENTS_PER_PAGE, cursor=cursor)
        newest = key_events_as(who, info.key_id, limit=SUMMARY_EVENTS).items
        summary = _usage_summary(newest)
        summarised = len(newest)
    return render(
        request,
        "kms/key.html",
        caller=who,
        context={
            "key": info,
            "may_manage": _may_manage(who, info),
            "events": events,
            "summary": summary,
            "summarised": summarised,
            "summary_limit": SUMMARY_EVENTS,
            "key_errors": errors or FormErrors(),
            "default_deletion_days": who.runtime.ctx.settings.kms.default_deletion_days,
        },
        status=status,
    )


@router.get("/kms/keys/{key_id}", response_class=HTMLResponse)
async def key(
    request: Request, key_id: KeyId, who: ConsoleCaller, cursor: Cursor = None
) -> HTMLResponse:
    """One key: its facts, versions, lifecycle actions and usage."""
    return await blocking(lambda: _key_page(request, who, key_id, cursor=cursor))


async def _lifecycle(
    request: Request,
    who: Caller,
    key_id: str,
    change: Callable[[], KeyInfo],
    done: str,
    *,
    field: str = "_form",
) -> Response:
    """Apply ``change`` (a lifecycle call); on refusal show the key's page with the message."""

    def work() -> Response:
        try:
            info = change()
        except AccessDenied:
            raise
        except CertwardError as exc:
            errors = FormErrors({field if isinstance(exc, InvalidInput) else "_form": exc.message})
            return _key_page(request, who, key_id, errors=errors, status=exc.status)
        return redirect(request, f"/kms/keys/{info.key_id}", flash=done)

    return await blocking(work)


@router.post("/kms/keys/{key_id}/rotate", response_model=None)
async def rotate(request: Request, key_id: KeyId, who: ConsoleCaller, _: CsrfChecked) -> Response:
    """Make a new primary version of the key."""
    return await _lifecycle(
        request,
        who,
        key_id,
        lambda: rotate_key_as(who, key_id),
        "Rotated: a new version is primary.",
    )


@router.post("/kms/keys/{key_id}/enable", response_model=None)
async def enable(request: Request, key_id: KeyId, who: ConsoleCaller, _: CsrfChecked) -> Response:
    """Enable a disabled key."""
    return await _lifecycle(
        request, who, key_id, lambda: enable_key_as(who, key_id), "Enabled the key."
    )


@router.post("/kms/keys/{key_id}/disable", response_model=None)
async def disable(request: Request, key_id: KeyId, who: ConsoleCaller, _: CsrfChecked) -> Response:
    """Disable a key: every use is refused until it is enabled."""
    return await _lifecycle(
        request, who, key_id, lambda: disable_key_as(who, key_id), "Disabled the key."
    )


@router.post("/kms/keys/{key_id}/schedule-deletion", response_model=None)
async def schedule_deletion(
    request: Request,
    key_id: KeyId,
    who: ConsoleCaller,
    _: CsrfChecked,
    pending_window_days: Text = "",
) -> Response:
    """Schedule the key's deletion after 7-30 days."""
    errors = FormErrors()
    days = optional_int(
        errors,
        "pending_window_days",
        pending_window_days,
        label="Waiting period",
        low=0,
        high=100_000,
    )
    if errors:

        def refused() -> Response:
            # Refused and audited like the API when the caller may not manage the key at all.
            who.require_for("kms.key.schedule_deletion", key_id, Permission.KMS_MANAGE)
            return _key_page(request, who, key_id, errors=errors, status=400)

        return await blocking(refused)
    return await _lifecycle(
        request,
        who,
        key_id,
        lambda: schedule_key_deletion_as(who, key_id, pending_window_days=days),
        "Scheduled the key's deletion.",
        field="pending_window_days",
    )


@router.post("/kms/keys/{key_id}/cancel-deletion", response_model=None)
async def cancel_deletion(
    request: Request, key_id: KeyId, who: ConsoleCaller, _: CsrfChecked
) -> Response:
    """Cancel a scheduled deletion; the key comes back disabled."""
    return await _lifecycle(
        request,
        who,
        key_id,
        lambda: cancel_key_deletion_as(who, key_id),
        "Cancelled the deletion; the key is disabled until you enable it.",
    )


PAGE = Page(name="kms", title="KMS keys", path="/kms", router=router)
