"""The audit log page: filters, paging, and who may read it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import httpx

from tests.server.console.console import assert_console_page, field_error
from tests.server.service import Identity, Service


def test_the_log_is_filtered_by_action_and_target(admin: httpx.Client) -> None:
    name = f"audited-{uuid.uuid4().hex[:6]}"
    admin.post("/v1/certificates", json={"ca": "issuing", "profile": "client", "common_name": name})
    text = assert_console_page(
        admin.get("/ui/audit", params={"action": "certificate.issue", "target": name}), 200
    )
    rows = re.findall(r"<tr>\s*<td>", text)
    assert len(rows) == 1
    assert name in text and 'value="certificate.issue"' in text


def test_the_log_pages_with_a_cursor(admin: httpx.Client) -> None:
    text = admin.get("/ui/audit").text
    if 'rel="next"' in text:  # more than one page of events already
        link = re.search(r'<a rel="next" href="([^"]+)"', text)
        assert link
        assert_console_page(admin.get(link.group(1).replace("&amp;", "&")), 200)
    assert_console_page(admin.get("/ui/audit", params={"cursor": "abc"}), 400)


def test_a_bad_date_is_shown_next_to_its_field(admin: httpx.Client) -> None:
    text = assert_console_page(admin.get("/ui/audit", params={"since": "yesterday"}), 400)
    assert "must be a date" in field_error(text, "f-since")


def test_a_principal_without_audit_read_gets_a_403_page(
    console_service: Service, principal_for: Callable[..., Identity]
) -> None:
    with console_service.client(principal_for({"permission": "ca.read"})) as client:
        text = assert_console_page(client.get("/ui/audit"), 403)
    assert "has no grant for audit.read" in text


def test_an_auditor_reads_the_log(
    console_service: Service, principal_for: Callable[..., Identity]
) -> None:
    with console_service.client(principal_for("audit.read")) as client:
        text = assert_console_page(client.get("/ui/audit"), 200)
    assert "principal.create" in text
