"""CSRF tokens, cross-site refusals, secure headers and the 401/403 pages of the console."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from certward.errors import CSRFRefused
from certward.keystore import Keystore
from certward.server.console.security import (
    TOKEN_LIFETIME,
    make_csrf_token,
    verify_csrf_token,
)
from tests.server.console.console import assert_console_page, csrf_token_in, post_form
from tests.server.service import Identity, Service

FINGERPRINT = "ab" * 32


@pytest.fixture
def keystore(tmp_path: Path) -> Keystore:
    return Keystore.load(tmp_path / "keys", create=True)


def _ca_names(admin: httpx.Client) -> set[str]:
    return {ca["name"] for ca in admin.get("/v1/cas").json()}


# -- tokens --------------------------------------------------------------------------------


def test_a_token_is_accepted_for_the_certificate_it_was_made_for(keystore: Keystore) -> None:
    token = make_csrf_token(keystore, FINGERPRINT)
    verify_csrf_token(keystore, FINGERPRINT, token)


def test_a_token_is_refused_for_another_certificate(keystore: Keystore) -> None:
    token = make_csrf_token(keystore, FINGERPRINT)
    with pytest.raises(CSRFRefused):
        verify_csrf_token(keystore, "cd" * 32, token)


def test_a_token_is_refused_once_its_lifetime_is_over(keystore: Keystore) -> None:
    token = make_csrf_token(keystore, FINGERPRINT, now=1_000_000)
    verify_csrf_token(keystore, FINGERPRINT, token, now=1_000_000 + TOKEN_LIFETIME)
    with pytest.raises(CSRFRefused, match="expired"):
        verify_csrf_token(keystore, FINGERPRINT, token, now=1_000_000 + TOKEN_LIFETIME + 1)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        lambda t: f"{int(t.split('.')[0], 16) + 1:x}." + t.split(".", 1)[1],  # another time
        lambda t: t.replace(".", "", 1),
        lambda t: "",
        lambda t: "zz.1.abc",
        lambda t: "x" * 500,
    ],
)
def test_a_tampered_or_malformed_token_is_refused(
    keystore: Keystore, tamper: Callable[[str], str]
) -> None:
    token = make_csrf_token(keystore, FINGERPRINT)
    with pytest.raises(CSRFRefused):
        verify_csrf_token(keystore, FINGERPRINT, tamper(token))


def test_every_node_holding_the_same_master_keys_accepts_the_token(
    keystore: Keystore, tmp_path: Path
) -> None:
    # Another node: a copy of the keys/ directory, no shared state, no session.
    shutil.copytree(keystore.keys_dir, tmp_path / "other-node-keys")
    other = Keystore.load(tmp_path / "other-node-keys", create=False)
    verify_csrf_token(other, FINGERPRINT, make_csrf_token(keystore, FINGERPRINT))


def test_a_keystore_with_other_master_keys_refuses_the_token(
    keystore: Keystore, tmp_path: Path
) -> None:
    stranger = Keystore.load(tmp_path / "stranger-keys", create=True)
    with pytest.raises(CSRFRefused):
        verify_csrf_token(stranger, FINGERPRINT, make_csrf_token(keystore, FINGERPRINT))


def test_a_token_made_before_a_master_key_rotation_still_verifies(keystore: Keystore) -> None:
    token = make_csrf_token(keystore, FINGERPRINT)
    keystore.add_master_key()
    verify_csrf_token(keystore, FINGERPRINT, token)


# -- form posts over the wire -------------------------------------------------------------


def test_a_form_post_without_a_token_is_refused_and_changes_nothing(admin: httpx.Client) -> None:
    name = f"csrf-{uuid.uuid4().hex[:8]}"
    response = admin.post("/ui/cas/create", data={"name": name, "subject": f"/CN={name}"})
    text = assert_console_page(response, 403)
    assert "console.csrf" in text
    assert name not in _ca_names(admin)


def test_a_token_made_for_another_certificate_is_refused(
    console_service: Service, admin: httpx.Client, principal_for: Callable[..., Identity]
) -> None:
    other_admin = principal_for("admin")
    stolen = csrf_token_in(admin.get("/ui/cas").text)
    name = f"csrf-{uuid.uuid4().hex[:8]}"
    with console_service.client(other_admin) as client:
        response = client.post(
            "/ui/cas/create", data={"csrf_token": stolen, "name": name, "subject": f"/CN={name}"}
        )
    assert "console.csrf" in assert_console_page(response, 403)
    assert name not in _ca_names(admin)


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "http://127.0.0.1"},
        {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_a_cross_site_post_is_refused_even_with_a_valid_token(
    admin: httpx.Client, headers: dict[str, str]
) -> None:
    token = csrf_token_in(admin.get("/ui/cas").text)
    name = f"csrf-{uuid.uuid4().hex[:8]}"
    response = admin.post(
        "/ui/cas/create",
        data={"csrf_token": token, "name": name, "subject": f"/CN={name}"},
        headers=headers,
    )
    assert "console.csrf" in assert_console_page(response, 403)
    assert name not in _ca_names(admin)


def test_the_token_may_come_in_the_x_csrf_token_header(admin: httpx.Client) -> None:
    token = csrf_token_in(admin.get("/ui/cas").text)
    name = f"hdr-{uuid.uuid4().hex[:8]}"
    response = admin.post(
        "/ui/cas/create",
        data={"name": name, "subject": f"/CN={name}", "parent": "root"},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 303, response.text
    assert name in _ca_names(admin)


def test_a_post_from_our_own_page_without_a_visible_origin_is_accepted(
    admin: httpx.Client,
) -> None:
    # What Chromium sends for our forms: Referrer-Policy no-referrer makes Origin "null".
    token = csrf_token_in(admin.get("/ui/cas").text)
    name = f"null-{uuid.uuid4().hex[:8]}"
    response = admin.post(
        "/ui/cas/create",
        data={"csrf_token": token, "name": name, "subject": f"/CN={name}"},
        headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"},
    )
    assert response.status_code == 303, response.text
    assert name in _ca_names(admin)


def test_a_same_origin_post_with_its_token_is_accepted(admin: httpx.Client) -> None:
    name = f"ok-{uuid.uuid4().hex[:8]}"
    response = post_form(
        admin, "/ui/cas", "/ui/cas/create", {"name": name, "subject": f"/CN={name}"}
    )
    assert response.status_code == 303, response.text
    assert name in _ca_names(admin)


# -- headers and error pages ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/ui/", "/ui/certificates", "/ui/cas", "/ui/audit"])
def test_every_page_carries_the_secure_headers(admin: httpx.Client, path: str) -> None:
    response = admin.get(path)
    assert_console_page(response, 200)
    csp = response.headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'none'",
    ):
        assert directive in csp
    assert "strict-transport-security" in response.headers


def test_the_page_has_no_inline_script_or_style(admin: httpx.Client) -> None:
    text = admin.get("/ui/").text
    assert "<script>" not in text and "<style" not in text and " style=" not in text
    assert " onclick=" not in text


def test_static_assets_are_vendored_and_revalidated(admin: httpx.Client) -> None:
    for asset in ("htmx.min.js", "console.js", "console.css", "LICENSE-htmx"):
        response = admin.get(f"/ui/static/{asset}")
        assert response.status_code == 200, asset
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-content-type-options"] == "nosniff"


def test_ui_without_a_slash_leads_to_the_console(admin: httpx.Client) -> None:
    response = admin.get("/ui")
    assert response.status_code in (307, 308)
    assert response.headers["location"].endswith("/ui/")


def test_without_a_client_certificate_the_console_shows_a_401_page(
    console_service: Service,
) -> None:
    with console_service.client(None) as client:
        text = assert_console_page(client.get("/ui/certificates"), 401)
    assert "client certificate" in text
    assert "admin.p12" in text


def test_a_certificate_that_is_no_principal_gets_a_403_page(
    console_service: Service, tmp_path: Path
) -> None:
    stranger = console_service.issue_client_certificate(tmp_path, f"s-{uuid.uuid4().hex[:8]}")
    with console_service.client(stranger) as client:
        text = assert_console_page(client.get("/ui/"), 403)
    assert "does not belong to any principal" in text


def test_an_unknown_page_is_a_404_page(admin: httpx.Client) -> None:
    assert "404" in assert_console_page(admin.get("/ui/no-such-page"), 404)


def test_a_malformed_query_is_a_400_page_not_a_traceback(admin: httpx.Client) -> None:
    assert_console_page(admin.get("/ui/certificates", params={"q": "x" * 300}), 400)
