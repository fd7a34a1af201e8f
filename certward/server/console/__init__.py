"""The web console: server-rendered pages at ``/ui/`` behind the same client certificates.

:func:`create_console_app` builds the ASGI app that ``certward serve`` mounts at
``/ui``. Pages call the same services, access checks and audit as the JSON routes;
this module only wires them up: page routers, static files, secure headers and one
place that renders every error as an HTML page (never a traceback).
"""

from __future__ import annotations

from pathlib import Path

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from certward.errors import CertwardError, Unauthenticated
from certward.server.auth import request_id_of
from certward.server.console import progress
from certward.server.console.pages import PAGES
from certward.server.console.render import render_page
from certward.server.console.security import SecureHeaders, secure_header_items
from certward.server.runtime import ServerRuntime

__all__ = ["CONSOLE_PREFIX", "create_console_app"]

CONSOLE_PREFIX = "/ui"
STATIC = Path(__file__).parent / "static"
_log = structlog.get_logger()


def _error_page(
    request: Request, *, status: int, code: str, title: str, message: str
) -> HTMLResponse:
    # The caller is not known here (the error may be that there is none): a bare page.
    return render_page(
        request,
        "error.html",
        caller=None,
        context={
            "status": status,
            "code": code,
            "title": title,
            "message": message,
            "request_id": request_id_of(request),
        },
        status=status,
    )


_TITLES = {
    400: "The request was not understood",
    401: "A client certificate is needed",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "Conflict",
    413: "Too large",
    422: "Refused by policy",
}


def _install_error_pages(app: FastAPI) -> None:
    @app.exception_handler(CertwardError)
    async def _certward(request: Request, exc: CertwardError) -> HTMLResponse:
        title = _TITLES.get(exc.status, "The request failed")
        if isinstance(exc, Unauthenticated):
            message = (
                "The console needs your client certificate, exactly like the API. Import your "
                "PKCS#12 bundle (for the first admin: admin/admin.p12 in the data directory) "
                "into the browser and reload this page."
            )
        else:
            message = exc.message
        return _error_page(request, status=exc.status, code=exc.code, title=title, message=message)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> HTMLResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(
            str(part) for part in first.get("loc", ()) if part not in ("body", "query")
        )
        message = f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
        return _error_page(
            request, status=400, code="input.invalid", title=_TITLES[400], message=message
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> HTMLResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http.error")
        message = {404: "There is no such page in the console."}.get(
            exc.status_code, str(exc.detail) if exc.detail else "The request failed."
        )
        return _error_page(
            request,
            status=exc.status_code,
            code=code,
            title=_TITLES.get(exc.status_code, "The request failed"),
            message=message,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> HTMLResponse:
        _log.error(
            "console.request_failed",
            request_id=request_id_of(request),
            error=type(exc).__name__,
            exc_info=exc,
        )
        response = _error_page(
            request,
            status=500,
            code="internal",
            title="Something went wrong",
            message="An internal error occurred; it is logged with the request id below.",
        )
        # This answer comes from the outermost middleware, outside SecureHeaders.
        for name, value in secure_header_items():
            response.headers[name] = value
        return response


def create_console_app(runtime: ServerRuntime) -> FastAPI:
    """The console for ``runtime``, to be mounted at :data:`CONSOLE_PREFIX`."""
    app = FastAPI(title="certward console", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.runtime = runtime
    app.state.console_pages = PAGES
    _install_error_pages(app)
    for page in PAGES:
        app.include_router(page.router)
    app.include_router(progress.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(SecureHeaders)
    return app
