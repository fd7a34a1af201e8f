"""Who may call what in the console: every console route, without a certificate and without grants.

The console is mounted at ``/ui`` as its own app, outside the API's OpenAPI schema,
so the API's access matrices (tests/server/test_access_matrix.py and
tests/security/test_access_matrix.py) do not walk it; this walk does. Routes come
from the console's page registry, so a new page is covered the day it is added:

- without a client certificate every route answers the 401 page;
- a principal whose only grant is unrelated (``kds.client``) gets, for a page, either
  the page (read-only: overview, job pages) or the 403 page, and for every form post
  (sent with a valid CSRF token) the 403 page; never a 5xx, never a traceback;
- the admin never gets a 401/403 or a 5xx on a page.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi.routing import APIRoute

from certward.server.console import progress
from certward.server.console.pages import PAGES
from tests.server.console.console import assert_console_page, csrf_token_in
from tests.server.service import Identity, Service

# Values for path parameters (well-formed; existing or not: the grant is checked first), by
# name, and where a page uses a name differently, by page; anything else gets "matrix".
PATH_VALUES = {
    "serial": "00",
    "name": "issuing",
    "job_id": "0" * 24,
    "kind": "server",
    "label": "matrix",
    "cert_id": "0" * 16,
}
PAGE_PATH_VALUES = {
    "slots": {"job_id": "0" * 32},
    "kms": {"key_id": "key-00000000-0000-4000-8000-000000000000"},
}
_PARAMETER = re.compile(r"{([^}:]+)(?::[^}]*)?}")


def _routes() -> list[tuple[str, str]]:
    routers = [(page.name, page.router) for page in PAGES] + [("jobs", progress.router)]
    found = []
    for page, router in routers:
        values = {**PATH_VALUES, **PAGE_PATH_VALUES.get(page, {})}
        for route in router.routes:
            assert isinstance(route, APIRoute)
            path = _PARAMETER.sub(lambda m, v=values: v.get(m.group(1), "matrix"), route.path)
            found.extend((method, "/ui" + path) for method in sorted(route.methods))
    return found


ROUTES = _routes()
PAGES_ONLY = [(method, path) for method, path in ROUTES if method == "GET"]
POSTS = [(method, path) for method, path in ROUTES if method != "GET"]


@pytest.fixture(scope="module")
def unrelated(
    console_service: Service, principal_for: Callable[..., Identity]
) -> Iterator[httpx.Client]:
    with console_service.client(principal_for("kds.client")) as client:
        yield client


def test_the_console_has_routes_to_walk() -> None:
    assert ("GET", "/ui/") in ROUTES
    assert ("POST", "/ui/certificates/00/revoke") in ROUTES


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_without_a_certificate_every_route_shows_the_401_page(
    console_service: Service, method: str, path: str
) -> None:
    with console_service.client(None) as client:
        response = client.request(method, path)
    assert "auth.required" in assert_console_page(response, 401)


@pytest.mark.parametrize(("method", "path"), PAGES_ONLY)
def test_a_principal_without_grants_sees_a_page_read_only_or_the_403_page(
    unrelated: httpx.Client, method: str, path: str
) -> None:
    response = unrelated.request(method, path)
    assert response.status_code in (200, 403), f"{path}: {response.status_code}"
    if response.headers["content-type"].startswith("text/html"):
        assert_console_page(response, response.status_code)


@pytest.mark.parametrize(("method", "path"), POSTS)
def test_a_principal_without_grants_is_refused_every_form_post(
    unrelated: httpx.Client, method: str, path: str
) -> None:
    token = csrf_token_in(unrelated.get("/ui/").text)
    response = unrelated.request(
        method, path, data={"csrf_token": token}, headers={"Sec-Fetch-Site": "same-origin"}
    )
    text = assert_console_page(response, 403)
    assert "auth.forbidden" in text


@pytest.mark.parametrize(("method", "path"), PAGES_ONLY)
def test_the_admin_is_never_refused_a_page(admin: httpx.Client, method: str, path: str) -> None:
    response = admin.request(method, path)
    assert response.status_code not in (401, 403), path
    assert response.status_code < 500, response.text
