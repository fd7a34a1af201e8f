"""The KMS keys page over real mTLS: create, lifecycle, usage from the audit log, refusals."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from tests.server.console.console import assert_console_page, post_form
from tests.server.service import Identity, Service


def _alias() -> str:
    return f"alias/console-{uuid.uuid4().hex[:8]}"


def _create(admin: httpx.Client, *, spec: str = "EC_P256", usage: str = "SIGN_VERIFY") -> str:
    body = {"spec": spec, "usage": usage, "alias": _alias()}
    response = admin.post("/v1/kms/keys", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["key_id"])


def _key(admin: httpx.Client, key_id: str) -> dict[str, Any]:
    response = admin.get(f"/v1/kms/keys/{key_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _key_count(admin: httpx.Client) -> int:
    return len(admin.get("/v1/kms/keys", params={"limit": 1000}).json()["items"])


def _field_error(html: str, form: str, field: str) -> str:
    found = re.search(rf'id="f-{form}-{field}-error">([^<]*)<', html)
    assert found, f"no error next to {field} of form {form}"
    return found.group(1)


def _flash(answer: httpx.Response) -> str:
    return httpx.QueryParams(answer.headers["location"].split("?", 1)[1])["flash"]


# -- listing and creating ------------------------------------------------------------------


def test_the_list_shows_keys_with_alias_spec_and_state(admin: httpx.Client) -> None:
    key_id = _create(admin)
    alias = _key(admin, key_id)["aliases"][0]

    html = assert_console_page(admin.get("/ui/kms"), 200)

    assert f'href="/ui/kms/keys/{key_id}"' in html
    assert alias in html
    assert "EC_P256" in html


def test_creating_a_key_from_the_form_goes_to_its_page_audited(admin: httpx.Client) -> None:
    alias = _alias()

    answer = post_form(
        admin,
        "/ui/kms",
        "/ui/kms/create",
        {"spec": "AES_256", "usage": "ENCRYPT_DECRYPT", "alias": alias, "description": "backups"},
    )

    assert answer.status_code == 303, answer.text
    key_id = answer.headers["location"].split("?")[0].removeprefix("/ui/kms/keys/")
    key = _key(admin, key_id)
    assert (key["aliases"], key["spec"], key["description"]) == ([alias], "AES_256", "backups")
    events = admin.get("/v1/audit", params={"target": key_id}).json()["items"]
    assert [(e["action"], e["principal"]) for e in events] == [("kms.key.create", "admin")]


def test_an_alias_given_without_its_prefix_gets_it(admin: httpx.Client) -> None:
    name = f"bare-{uuid.uuid4().hex[:8]}"

    answer = post_form(
        admin,
        "/ui/kms",
        "/ui/kms/create",
        {"spec": "HMAC_256", "usage": "GENERATE_VERIFY_MAC", "alias": name},
    )

    assert answer.status_code == 303, answer.text
    assert _flash(answer) == f"Created key alias/{name}."


def test_a_usage_that_does_not_fit_the_spec_is_shown_next_to_it_and_nothing_is_made(
    admin: httpx.Client,
) -> None:
    before = _key_count(admin)

    answer = post_form(
        admin, "/ui/kms", "/ui/kms/create", {"spec": "EC_P256", "usage": "ENCRYPT_DECRYPT"}
    )

    html = assert_console_page(answer, 400)
    assert "EC_P256 keys are for SIGN_VERIFY" in _field_error(html, "create", "usage")
    assert _key_count(admin) == before


def test_a_taken_alias_is_shown_next_to_the_alias_field(admin: httpx.Client) -> None:
    taken = _key(admin, _create(admin))["aliases"][0]
    before = _key_count(admin)

    answer = post_form(
        admin,
        "/ui/kms",
        "/ui/kms/create",
        {"spec": "EC_P256", "usage": "SIGN_VERIFY", "alias": taken},
    )

    html = assert_console_page(answer, 409)
    assert "already exists" in _field_error(html, "create", "alias")
    assert _key_count(admin) == before


def test_a_rotation_period_out_of_range_is_shown_next_to_it(admin: httpx.Client) -> None:
    answer = post_form(
        admin,
        "/ui/kms",
        "/ui/kms/create",
        {"spec": "AES_256", "usage": "ENCRYPT_DECRYPT", "rotation_period_days": "5000"},
    )

    html = assert_console_page(answer, 400)
    assert "rotation_period_days must be 1-3650" in _field_error(
        html, "create", "rotation_period_days"
    )


# -- lifecycle ------------------------------------------------------------------------------


def test_rotating_a_key_makes_a_new_primary_version(admin: httpx.Client) -> None:
    key_id = _create(admin)

    answer = post_form(admin, f"/ui/kms/keys/{key_id}", f"/ui/kms/keys/{key_id}/rotate", {})

    assert answer.status_code == 303, answer.text
    key = _key(admin, key_id)
    assert key["primary_version"] == 2
    assert [v["version"] for v in key["versions"]] == [1, 2]


def test_a_key_is_disabled_and_enabled_again(admin: httpx.Client) -> None:
    key_id = _create(admin)
    page = f"/ui/kms/keys/{key_id}"

    disabled = post_form(admin, page, f"{page}/disable", {})
    state_after_disable = _key(admin, key_id)["state"]
    enabled = post_form(admin, page, f"{page}/enable", {})

    assert (disabled.status_code, enabled.status_code) == (303, 303)
    assert state_after_disable == "Disabled"
    assert _key(admin, key_id)["state"] == "Enabled"


def test_a_deletion_is_scheduled_and_cancelled(admin: httpx.Client) -> None:
    key_id = _create(admin)
    page = f"/ui/kms/keys/{key_id}"

    scheduled = post_form(admin, page, f"{page}/schedule-deletion", {"pending_window_days": "7"})
    pending = _key(admin, key_id)
    cancelled = post_form(admin, page, f"{page}/cancel-deletion", {})

    assert (scheduled.status_code, cancelled.status_code) == (303, 303)
    assert pending["state"] == "PendingDeletion" and pending["deletion_date"]
    assert _key(admin, key_id)["state"] == "Disabled"


def test_a_waiting_period_the_service_refuses_is_shown_next_to_it(admin: httpx.Client) -> None:
    key_id = _create(admin)
    page = f"/ui/kms/keys/{key_id}"

    answer = post_form(admin, page, f"{page}/schedule-deletion", {"pending_window_days": "3"})

    html = assert_console_page(answer, 400)
    assert "7" in _field_error(html, "key", "pending_window_days")
    assert _key(admin, key_id)["state"] == "Enabled"


def test_a_refused_lifecycle_change_shows_the_services_message(admin: httpx.Client) -> None:
    key_id = _create(admin)
    page = f"/ui/kms/keys/{key_id}"

    answer = post_form(admin, page, f"{page}/cancel-deletion", {})

    html = assert_console_page(answer, 409)
    assert "is not pending deletion" in html
    assert _key(admin, key_id)["state"] == "Enabled"


# -- usage -----------------------------------------------------------------------------


def test_a_keys_page_shows_who_used_it_for_what(admin: httpx.Client) -> None:
    key_id = _create(admin)
    message = base64.b64encode(b"report").decode()
    for _ in range(3):
        signed = admin.post(
            f"/v1/kms/keys/{key_id}/sign", json={"message": message, "algorithm": "ECDSA_SHA_256"}
        )
        assert signed.status_code == 200, signed.text

    html = assert_console_page(admin.get(f"/ui/kms/keys/{key_id}"), 200)

    summary = html.split('id="usage-summary"', 1)[1].split("</table>", 1)[0]
    assert re.search(r"<td>admin</td><td>sign</td><td class=\"num\">3</td>", summary), summary
    assert "kms.key.create" in html.split('id="usage-events"', 1)[1]


# -- access -------------------------------------------------------------------------------


def test_a_describe_only_principal_sees_its_keys_read_only(
    admin: httpx.Client, console_service: Service, principal_for: Callable[..., Identity]
) -> None:
    key_id = _create(admin)
    identity = principal_for(
        {"permission": "kms.use", "resources": [key_id], "operations": ["describe"]}
    )

    with console_service.client(identity) as client:
        listing = assert_console_page(client.get("/ui/kms"), 200)
        page = assert_console_page(client.get(f"/ui/kms/keys/{key_id}"), 200)

    assert f'href="/ui/kms/keys/{key_id}"' in listing
    assert "/ui/kms/create" not in listing
    assert f"/ui/kms/keys/{key_id}/rotate" not in page
    assert "needs <code>kms.manage</code>" in page


def test_a_posted_rotation_without_the_grant_is_refused_with_the_403_page(
    admin: httpx.Client, console_service: Service, principal_for: Callable[..., Identity]
) -> None:
    key_id = _create(admin)
    identity = principal_for(
        {"permission": "kms.use", "resources": [key_id], "operations": ["describe"]}
    )

    with console_service.client(identity) as client:
        shown = client.get(f"/ui/kms/keys/{key_id}").text
        token = re.search(r'"X-CSRF-Token": "([^"]+)"', shown)
        assert token
        answer = client.post(
            f"/ui/kms/keys/{key_id}/rotate",
            data={"csrf_token": token.group(1)},
            headers={"Origin": str(client.base_url).rstrip("/")},
        )

    assert "kms.manage" in assert_console_page(answer, 403)
    assert _key(admin, key_id)["primary_version"] == 1


def test_a_principal_without_any_kms_grant_sees_a_notice(
    console_service: Service, principal_for: Callable[..., Identity]
) -> None:
    identity = principal_for("audit.read")

    with console_service.client(identity) as client:
        html = assert_console_page(client.get("/ui/kms"), 200)

    assert "Your grants do not include managing or describing KMS keys" in html
    assert "/ui/kms/create" not in html
