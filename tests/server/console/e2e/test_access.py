"""In Chromium: a low-privilege identity is refused, and sees what it may read only read-only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def test_an_identity_without_grants_is_refused_with_a_clear_403_page(
    page_for: Callable[..., Any],
) -> None:
    page = page_for("kds.client")
    response = page.goto("/ui/certificates")
    assert response.status == 403
    assert page.get_by_role("heading", level=1).inner_text() == "403 · Not allowed"
    assert "has no grant for ca.read" in page.locator(".message").inner_text()
    assert "Traceback" not in page.content()


def test_a_reader_sees_the_cas_without_any_form_to_change_them(
    page_for: Callable[..., Any],
) -> None:
    page = page_for({"permission": "ca.read"})
    page.goto("/ui/cas")
    assert page.locator("#ca-issuing").count() == 1
    assert page.locator("form[method='post']").count() == 0
    assert page.get_by_text("Creating a CA needs the admin grant").count() == 1
