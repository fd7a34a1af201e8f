"""Helpers of the console tests: form posts with the page's CSRF token, like a browser.

``post_form(client, page, action, data)`` loads ``page``, takes the CSRF token of
its form and posts ``data`` to ``action`` with the browser's Origin; the answer is
not followed, so a 303 (success) can be told from a re-rendered form (refusal).
"""

from __future__ import annotations

import re
from html import unescape
from typing import Any

import httpx

from tests.server.service import poll_until

__all__ = ["assert_console_page", "csrf_token_in", "field_error", "job_outcome", "post_form"]

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_PAGE_TOKEN = re.compile(r'"X-CSRF-Token": "([^"]+)"')  # the page's token, for htmx requests
_TRACEBACK_MARKERS = ("Traceback", 'File "', "site-packages", '.py", line')


def csrf_token_in(html: str) -> str:
    """The CSRF token of the first form of a console page (or the page's own, without forms)."""
    found = _TOKEN.search(html) or _PAGE_TOKEN.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def post_form(
    client: httpx.Client, page: str, action: str, data: dict[str, Any], **options: Any
) -> httpx.Response:
    """Post ``data`` (plus the CSRF token of ``page``) to ``action`` as a same-origin browser."""
    shown = client.get(page)
    assert shown.status_code == 200, shown.text
    origin = str(client.base_url).rstrip("/")
    return client.post(
        action,
        data={"csrf_token": csrf_token_in(shown.text), **data},
        headers={"Origin": origin, "Sec-Fetch-Site": "same-origin"},
        **options,
    )


def assert_console_page(response: httpx.Response, status: int) -> str:
    """An HTML console page with ``status``, its secure headers, and no traceback; its text."""
    assert response.status_code == status, f"{response.request.url}: {response.text[-2000:]}"
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    for marker in _TRACEBACK_MARKERS:
        assert marker not in response.text, response.text
    return response.text


def field_error(html: str, field_id: str) -> str:
    """The error text shown next to the field with id ``field_id`` (which must be marked invalid).

    ``field_id`` is the input's id, e.g. ``f-issue-sans`` (``forms.field(..., form="issue")``).
    """
    control = re.search(rf'<(?:input|select|textarea)[^>]*id="{re.escape(field_id)}"[^>]*>', html)
    assert control, f"no field {field_id} on the page"
    assert 'aria-invalid="true"' in control.group(0), control.group(0)
    assert 'aria-describedby="' in control.group(0) and f"{field_id}-error" in control.group(0)
    found = re.search(rf'<p class="field-error" id="{re.escape(field_id)}-error">([^<]*)</p>', html)
    assert found, f"no error text next to {field_id}"
    return unescape(found.group(1))


def job_outcome(client: httpx.Client, job_page: str, *, within: float = 60.0) -> str:
    """Poll a job's status fragment (as htmx does) until it is done; its final HTML."""
    status_url = job_page.rstrip("/") + "/status"

    def finished() -> str | None:
        text = client.get(status_url).text
        return None if "hx-get=" in text else text

    outcome = poll_until(finished, within=within, interval=0.1)
    assert outcome is not None, f"job {job_page} did not finish within {within} s"
    return outcome
