"""The principals page over real mTLS: grants, the bundle once, access points, disable."""

from __future__ import annotations

import base64
import html as html_text
import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.server.console.console import assert_console_page, post_form
from tests.server.service import Identity, Service


def _name(prefix: str = "ui") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _downloads(html: str) -> dict[str, bytes]:
    """The files a created page offers: file name -> content (from its data: links)."""
    found = re.findall(r'href="data:[^;"]+;base64,([^"]+)" download="([^"]+)"', html)
    return {name: base64.b64decode(data) for data, name in found}


def _password(html: str) -> str:
    found = re.search(r'id="bundle-password">([^<]+)<', html)
    assert found, "no password on the page"
    return html_text.unescape(found.group(1))


def _field_error(html: str, form: str, field: str) -> str:
    found = re.search(rf'id="f-{form}-{field}-error">([^<]*)<', html)
    assert found, f"no error next to {field} of form {form}"
    return html_text.unescape(found.group(1))


def _principal(admin: httpx.Client, name: str) -> httpx.Response:
    return admin.get(f"/v1/principals/{name}")


def _create_form(name: str, **extra: str) -> dict[str, str]:
    return {
        "name": name,
        "description": "made in the console",
        "grant1_permission": "ca.issue",
        "grant1_resources": "issuing",
        "grant1_profiles": "server, client",
        "grant2_permission": "audit.read",
        **extra,
    }


# -- create a principal ---------------------------------------------------------------------


def test_creating_a_principal_shows_its_bundle_and_password_once(
    admin: httpx.Client, console_service: Service, tmp_path: Path
) -> None:
    name = _name()

    answer = post_form(admin, "/ui/principals", "/ui/principals/create", _create_form(name))

    html = assert_console_page(answer, 201)
    files = _downloads(html)
    password = _password(html)
    key, certificate, _chain = pkcs12.load_key_and_certificates(
        files[f"{name}.p12"], password.encode()
    )
    assert key is not None and certificate is not None
    assert b"PRIVATE KEY" in files[f"{name}.pem"]
    grants = _principal(admin, name).json()["grants"]
    assert [(g["permission"], g["resources"], g["profiles"]) for g in grants] == [
        ("ca.issue", ["issuing"], ["server", "client"]),
        ("audit.read", ["*"], ["*"]),
    ]
    # The bundle works: the new principal is who it says it is.
    pem = tmp_path / f"{name}.pem"
    pem.write_bytes(files[f"{name}.pem"])
    identity = Identity(name=name, certificate=pem, key=pem, serial="")
    with console_service.client(identity) as client:
        assert client.get("/v1/whoami").json()["name"] == name


def test_the_bundle_is_nowhere_to_be_found_afterwards(admin: httpx.Client) -> None:
    name = _name()
    created = post_form(admin, "/ui/principals", "/ui/principals/create", _create_form(name))
    password = _password(created.text)

    listing = assert_console_page(admin.get("/ui/principals"), 200)
    again = post_form(admin, "/ui/principals", "/ui/principals/create", _create_form(name))

    assert f'id="principal-{name}"' in listing
    assert password not in listing and "data:application" not in listing
    assert password not in assert_console_page(again, 409)
    assert "already exists" in _field_error(again.text, "create", "name")
    assert "pkcs12" not in json.dumps(_principal(admin, name).json()).lower()


def test_a_principal_without_a_grant_is_refused_next_to_the_first_grant(
    admin: httpx.Client,
) -> None:
    name = _name()

    answer = post_form(admin, "/ui/principals", "/ui/principals/create", {"name": name})

    html = assert_console_page(answer, 400)
    assert "at least one grant" in _field_error(html, "create", "grant1_permission")
    assert _principal(admin, name).status_code == 404


def test_a_bad_name_is_shown_next_to_the_name_and_nothing_is_made(admin: httpx.Client) -> None:
    answer = post_form(admin, "/ui/principals", "/ui/principals/create", _create_form("bad name!"))

    html = assert_console_page(answer, 400)
    assert "invalid" in _field_error(html, "create", "name")
    assert 'value="made in the console"' in html  # the form keeps what was typed


def test_a_grant_the_service_refuses_is_shown_next_to_its_row(admin: httpx.Client) -> None:
    form = _create_form(_name(), grant2_permission="audit.read", grant3_permission="nonsense")

    answer = post_form(admin, "/ui/principals", "/ui/principals/create", form)

    html = assert_console_page(answer, 400)
    assert "unknown permission 'nonsense'" in _field_error(html, "create", "grant3_permission")


# -- access points ----------------------------------------------------------------------------


def _key(admin: httpx.Client) -> dict[str, Any]:
    body = {"spec": "EC_P256", "usage": "SIGN_VERIFY", "alias": f"alias/{_name('ap')}"}
    response = admin.post("/v1/kms/keys", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_an_access_point_gets_its_client_key_ca_and_password_once(
    admin: httpx.Client, console_service: Service, tmp_path: Path
) -> None:
    key = _key(admin)
    name = _name("point")

    answer = post_form(
        admin,
        "/ui/principals",
        "/ui/principals/access-points",
        {"name": name, "keys": [key["key_id"]], "operations": ["sign", "verify"]},
    )

    html = assert_console_page(answer, 201)
    files = _downloads(html)
    client_key = json.loads(files[f"clientKey_{name}.json"])
    assert client_key["KeyId"] == name
    bundle = base64.b64decode(client_key["PrivateKeyData"])
    private_key, certificate, _ = pkcs12.load_key_and_certificates(bundle, _password(html).encode())
    assert private_key is not None and certificate is not None
    assert b"BEGIN CERTIFICATE" in files["ca.pem"]
    [grant] = _principal(admin, name).json()["grants"]
    assert (grant["permission"], grant["resources"], grant["operations"]) == (
        "kms.use",
        [key["key_id"]],
        ["sign", "verify"],
    )


def test_an_access_point_needs_an_operation_shown_next_to_the_operations(
    admin: httpx.Client,
) -> None:
    key = _key(admin)
    name = _name("point")

    answer = post_form(
        admin,
        "/ui/principals",
        "/ui/principals/access-points",
        {"name": name, "keys": [key["key_id"]]},
    )

    html = assert_console_page(answer, 400)
    assert "operations" in _field_error(html, "point", "operations")
    assert _principal(admin, name).status_code == 404


def test_an_unknown_key_is_shown_next_to_the_keys(admin: httpx.Client) -> None:
    name = _name("point")

    answer = post_form(
        admin,
        "/ui/principals",
        "/ui/principals/access-points",
        {"name": name, "other_keys": "alias/does-not-exist", "operations": ["sign"]},
    )

    html = assert_console_page(answer, 404)
    assert "alias/does-not-exist" in _field_error(html, "point", "keys")
    assert _principal(admin, name).status_code == 404


# -- disable ----------------------------------------------------------------------------------


def test_disabling_a_principal_revokes_it_and_it_is_refused_from_then_on(
    admin: httpx.Client, console_service: Service, principal_for: Callable[..., Identity]
) -> None:
    victim = principal_for("audit.read")

    answer = post_form(admin, "/ui/principals", f"/ui/principals/{victim.name}/disable", {})

    assert answer.status_code == 303, answer.text
    assert _principal(admin, victim.name).json()["enabled"] is False
    assert console_service.fresh_request(victim, path="/v1/whoami") != 200
    listing = admin.get("/ui/principals").text
    row = listing.split(f'id="principal-{victim.name}"', 1)[1].split("</tr>", 1)[0]
    assert "disabled" in row and "/disable" not in row


def test_disabling_twice_shows_the_services_message(
    admin: httpx.Client, principal_for: Callable[..., Identity]
) -> None:
    victim = principal_for("audit.read")
    post_form(admin, "/ui/principals", f"/ui/principals/{victim.name}/disable", {})

    answer = post_form(admin, "/ui/principals", f"/ui/principals/{victim.name}/disable", {})

    assert "is already disabled" in assert_console_page(answer, 409)


# -- access -------------------------------------------------------------------------------


def test_a_non_admin_sees_only_itself_and_no_forms(
    console_service: Service, principal_for: Callable[..., Identity]
) -> None:
    identity = principal_for("audit.read")

    with console_service.client(identity) as client:
        html = assert_console_page(client.get("/ui/principals"), 200)

    assert f'id="me-name">{identity.name}<' in html
    assert "/ui/principals/create" not in html
    assert 'id="principals"' not in html
    assert "needs the <code>admin</code> grant" in html


def test_a_non_admins_create_post_is_refused_with_the_403_page_and_audited(
    admin: httpx.Client, console_service: Service, principal_for: Callable[..., Identity]
) -> None:
    identity = principal_for("audit.read")
    name = _name()

    with console_service.client(identity) as client:
        shown = client.get("/ui/principals").text
        token = re.search(r'"X-CSRF-Token": "([^"]+)"', shown)
        assert token
        answer = client.post(
            "/ui/principals/create",
            data={"csrf_token": token.group(1), **_create_form(name)},
            headers={"Origin": str(client.base_url).rstrip("/")},
        )

    assert_console_page(answer, 403)
    assert _principal(admin, name).status_code == 404
    events = admin.get("/v1/audit", params={"target": name}).json()["items"]
    assert [(e["action"], e["principal"], e["result"]) for e in events] == [
        ("principal.create", identity.name, "auth.forbidden")
    ]
