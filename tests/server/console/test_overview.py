"""The overview page: counts by state, the expiry timeline, CRL ages, recent events."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import httpx

from tests.server.console.console import assert_console_page
from tests.server.service import Identity, Service


def _count(text: str, state: str) -> int:
    found = re.search(rf'id="count-{state}">(\d+)<', text)
    assert found, state
    return int(found.group(1))


def test_the_counts_follow_issuing_and_revoking(admin: httpx.Client) -> None:
    before = admin.get("/ui/").text
    name = f"count-{uuid.uuid4().hex[:6]}"
    issued = admin.post(
        "/v1/certificates", json={"ca": "issuing", "profile": "client", "common_name": name}
    ).json()
    admin.post(f"/v1/certificates/{issued['serial']}/revoke", json={})
    after = assert_console_page(admin.get("/ui/"), 200)
    assert _count(after, "revoked") == _count(before, "revoked") + 1
    assert _count(after, "valid") == _count(before, "valid")


def test_the_timeline_is_a_server_rendered_svg_with_a_table_beside_it(
    admin: httpx.Client,
) -> None:
    name = f"soon-{uuid.uuid4().hex[:6]}"
    admin.post(
        "/v1/certificates",
        json={"ca": "issuing", "profile": "client", "common_name": name, "days": 5},
    )
    text = assert_console_page(admin.get("/ui/"), 200)
    svg = text[text.index("<svg") : text.index("</svg>")]
    assert 'role="img"' in svg and "<title" in svg
    assert len(re.findall(r"<rect ", svg)) == 90
    assert re.search(r'class="bar soon"[^>]*height="(?!0")', svg)  # a bar in the first days
    assert "Show as a table" in text


def test_crl_ages_and_recent_events_are_shown(admin: httpx.Client) -> None:
    text = admin.get("/ui/").text
    assert "CAs and CRLs" in text
    assert re.search(r"<td>\d+ (s|min|h|d) ago</td>", text)
    assert "Recent events" in text and "certificate.issue" in text


def test_a_principal_without_ca_or_audit_grants_sees_an_overview_without_them(
    console_service: Service, principal_for: Callable[..., Identity]
) -> None:
    with console_service.client(principal_for("kds.client")) as client:
        text = assert_console_page(client.get("/ui/"), 200)
    assert "do not include reading CAs" in text
    assert "needs the <code>audit.read</code> grant" in text
    assert "<svg" not in text


def test_a_reader_of_one_ca_sees_only_its_figures(
    console_service: Service, admin: httpx.Client, principal_for: Callable[..., Identity]
) -> None:
    reader = principal_for({"permission": "ca.read", "resources": ["root"]})
    with console_service.client(reader) as client:
        text = assert_console_page(client.get("/ui/"), 200)
    everything = admin.get("/ui/").text
    assert 'href="/ui/cas#ca-root"' in text
    assert 'href="/ui/cas#ca-issuing"' not in text
    # Under the root CA: its own certificate and those of the CAs it signed, nothing else.
    signed = sum(1 for ca in admin.get("/v1/cas").json() if ca["parent"] == "root")
    assert _count(text, "valid") == 1 + signed < _count(everything, "valid")
