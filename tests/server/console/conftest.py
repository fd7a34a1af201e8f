"""Fixtures of the console tests: a running service, and Chromium presenting a client certificate.

- ``console_service``: ``certward serve`` on a fresh data dir, shared by the session.
- ``admin``: an httpx client of that service as the bootstrap admin (follows no redirects).
- ``principal_for(*grants)``: a new principal with these grants (dicts as the API takes them,
  or permission names), as an :class:`~tests.server.service.Identity` with a PKCS#12 bundle.
- ``browser``: Debian's ``/usr/bin/chromium`` driven by Playwright, headless, no network
  beyond the test machine (never a downloaded browser). Module-scoped: Playwright's sync
  API keeps an asyncio loop running in this thread while it is open, which async tests
  that the same worker runs later would trip over.
- ``admin_page``: a new browser page presenting the admin's ``admin.p12``.
- ``page_for(*grants)``: a new browser page presenting a new principal's certificate.

Browser tests sit in ``e2e/``; route tests use ``admin`` / ``principal_for`` with httpx.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.service import Identity, Service, running_service

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
Grant = dict[str, Any] | str


def _grant(value: Grant) -> dict[str, Any]:
    return {"permission": value} if isinstance(value, str) else value


@pytest.fixture(scope="session")
def console_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A service for the console tests, on a fresh data dir."""
    base = tmp_path_factory.mktemp("console")
    with running_service(base / "data", log=base / "serve.log") as running:
        yield running


@pytest.fixture
def admin(console_service: Service) -> Iterator[httpx.Client]:
    """An httpx client of the console service as the admin."""
    with console_service.client() as client:
        yield client


@pytest.fixture(scope="session")
def principal_for(
    console_service: Service, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., Identity]:
    """Make a principal with the given grants (``"audit.read"`` or a grant dict)."""
    directory = tmp_path_factory.mktemp("console-principals")

    def make(*grants: Grant) -> Identity:
        return console_service.create_principal(directory, grants=[_grant(g) for g in grants])

    return make


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium under Playwright (the browser tests fail without it)."""
    from playwright.sync_api import sync_playwright

    assert CHROMIUM.exists(), "Debian's chromium is missing: run scripts/install-system-deps.sh"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


def _open_page(browser: Any, service: Service, identity: Identity, **options: Any) -> Any:
    assert identity.pkcs12 is not None
    context = browser.new_context(
        base_url=service.url,
        # The service's own root is not in Chromium's store; the test is about the client side.
        ignore_https_errors=True,
        client_certificates=[
            {
                "origin": service.url,
                "pfxPath": str(identity.pkcs12),
                "passphrase": identity.pkcs12_password,
            }
        ],
        accept_downloads=True,
        **options,
    )
    context.set_default_timeout(20_000)
    return context.new_page()


@pytest.fixture
def admin_page(browser: Any, console_service: Service) -> Iterator[Any]:
    """A browser page presenting the admin's certificate (a new context per test)."""
    page = _open_page(browser, console_service, console_service.admin)
    try:
        yield page
    finally:
        page.context.close()


@pytest.fixture
def page_for(
    browser: Any, console_service: Service, principal_for: Callable[..., Identity]
) -> Iterator[Callable[..., Any]]:
    """Make a browser page for a new principal with the given grants."""
    opened: list[Any] = []

    def make(*grants: Grant) -> Any:
        page = _open_page(browser, console_service, principal_for(*grants))
        opened.append(page)
        return page

    yield make
    for page in opened:
        page.context.close()
