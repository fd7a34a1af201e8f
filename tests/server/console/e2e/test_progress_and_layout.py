"""In Chromium: long operations show live progress (htmx, under the CSP); pages fit a phone."""

from __future__ import annotations

import re
import uuid
from typing import Any


def test_bulk_issue_shows_progress_that_updates_until_done(admin_page: Any) -> None:
    page = admin_page
    csp_errors: list[str] = []
    page.on(
        "console", lambda m: csp_errors.append(m.text) if "Content Security" in m.text else None
    )
    prefix = f"sensor-{uuid.uuid4().hex[:6]}"
    page.goto("/ui/cas")
    bulk = page.locator("form[action='/ui/cas/bulk-issue']")
    bulk.get_by_label("CA").select_option("issuing")
    bulk.get_by_label("Profile").select_option("client")
    bulk.get_by_label("Common name prefix").fill(prefix)
    bulk.get_by_label("How many").fill("25")
    bulk.get_by_role("button", name="Issue all").click()
    page.wait_for_url(re.compile(r".*/ui/jobs/[0-9a-f]{24}$"))
    assert page.locator("progress").count() == 1
    # The fragment replaces itself (htmx polling) until the job is done; no reload.
    done = page.get_by_text(f"Issued 25 certificates {prefix}-0001 to {prefix}-0025.")
    done.wait_for(timeout=60_000)
    assert page.locator("progress").get_attribute("value") == "25"
    assert csp_errors == []


def test_the_overview_fits_a_phone_screen(browser: Any, admin_page: Any) -> None:
    page = admin_page
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto("/ui/")
    page.get_by_role("heading", name="Expiring in the next 90 days").wait_for()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    assert page.get_by_role("navigation", name="Main").get_by_role("link", name="CAs").is_visible()
