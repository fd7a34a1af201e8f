"""Rendering console pages: the Jinja2 environment, :func:`render` and :func:`redirect`.

Templates live in ``templates/`` (autoescaped, undefined names are errors). Every
page gets in its context: ``request``, ``caller``, a fresh ``csrf_token``, ``pages``
(the navigation), ``current`` (the current page's name), ``flash`` (the ``flash``
query parameter of the 303 that follows a successful form), ``base`` (the console's
URL prefix, ``/ui``) and ``can(permission, resource=None, profile=None, operation=None)``
to ask the caller's grants (permission: a :class:`~certward.access.grants.Permission`
value such as ``"ca.issue"``). Filters: ``when`` (a datetime as ``2030-01-31 12:00 UTC``)
and ``age`` (a datetime as ``3 h ago`` / ``in 5 d``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from certward.access.grants import Permission, is_allowed
from certward.server.auth import Caller
from certward.server.console.page import Page
from certward.server.console.security import csrf_token

__all__ = ["TEMPLATES", "base_path", "environment", "redirect", "render", "render_page"]

TEMPLATES = Path(__file__).parent / "templates"
_FLASH_MAX = 200
# The token of the page being rendered: macros imported without context (forms.csrf()) see
# only the environment's globals, so they read it through this global function.
_CSRF_TOKEN: ContextVar[str] = ContextVar("console_csrf_token", default="")


def _when(value: datetime | None) -> str:
    if value is None:
        return "—"
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _age(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "—"
    now = now or datetime.now(UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = int((now - value).total_seconds())
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            amount = f"{seconds // size} {unit}"
            break
    else:
        amount = f"{seconds} s"
    return f"in {amount}" if future else f"{amount} ago"


def environment() -> Environment:
    """The console's Jinja2 environment (built once, at import)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "svg"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates are package data: never changed while serving
    )
    env.filters["when"] = _when
    env.filters["age"] = _age
    env.globals["current_csrf_token"] = _CSRF_TOKEN.get
    return env


_ENV = environment()


def base_path(request: Request) -> str:
    """The URL prefix the console is mounted at (``/ui``)."""
    root = request.scope.get("root_path", "")
    return root if isinstance(root, str) else ""


def _pages(request: Request) -> Sequence[Page]:
    pages = getattr(request.app.state, "console_pages", ())
    return tuple(pages)


def _current(request: Request, pages: Sequence[Page]) -> str | None:
    base = base_path(request)
    path = request.url.path.removeprefix(base) or "/"
    for page in pages:
        if page.path == "/":
            if path == "/":
                return page.name
        elif path == page.path or path.startswith(page.path + "/"):
            return page.name
    return None


def render_page(
    request: Request,
    template: str,
    *,
    caller: Caller | None,
    context: Mapping[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    """:func:`render` for pages shown without a known caller too (the error pages)."""
    pages = _pages(request)
    flash = request.query_params.get("flash")
    values: dict[str, Any] = {
        "request": request,
        "caller": caller,
        "csrf_token": csrf_token(request, caller) if caller is not None else "",
        "pages": pages,
        "current": _current(request, pages),
        "flash": flash[:_FLASH_MAX] if flash else None,
        "base": base_path(request),
        "can": _can(caller),
        "errors": {},
    }
    values.update(context or {})
    token = _CSRF_TOKEN.set(values["csrf_token"])
    try:
        body = _ENV.get_template(template).render(values)
    finally:
        _CSRF_TOKEN.reset(token)
    return HTMLResponse(body, status_code=status)


def _can(caller: Caller | None) -> Any:
    def can(
        permission: str,
        resource: str | None = None,
        profile: str | None = None,
        operation: str | None = None,
    ) -> bool:
        if caller is None:
            return False
        return is_allowed(
            caller.principal.grants,
            Permission(permission),
            resource=resource,
            profile=profile,
            operation=operation,
        )

    return can


def render(
    request: Request,
    template: str,
    *,
    caller: Caller,
    context: Mapping[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    """The page ``template`` for ``caller`` (see the module docstring for the context)."""
    return render_page(request, template, caller=caller, context=context, status=status)


def redirect(request: Request, path: str, *, flash: str | None = None) -> RedirectResponse:
    """303 to ``path`` (relative to the console, e.g. ``/cas#ca-root``), with a flash message."""
    path, hash_mark, fragment = path.partition("#")
    target = base_path(request) + path
    if flash:
        target += ("&" if "?" in target else "?") + urlencode({"flash": flash[:_FLASH_MAX]})
    return RedirectResponse(target + hash_mark + fragment, status_code=303)
