"""``/acme/...`` when ACME is off (the default): nothing answers there but the plain 404."""

from __future__ import annotations

import base64
from pathlib import Path

from tests.server.service import Service, assert_error


def test_acme_is_off_unless_enabled(service: Service) -> None:
    with service.client(None) as anonymous:
        directory = anonymous.get("/acme/issuing/directory")
        new_account = anonymous.post(
            "/acme/issuing/new-account",
            content=b"{}",
            headers={"content-type": "application/jose+json"},
        )

    assert_error(directory, 404, "not_found")
    assert_error(new_account, 415, "input.media_type")  # the JSON API's rule, not ACME's


def test_the_admin_hands_out_eab_keys_for_existing_principals_only(
    service: Service, tmp_path: Path
) -> None:
    team = service.create_principal(
        tmp_path / "team", grants=[{"permission": "ca.read", "resources": ["*"]}]
    )
    with service.client() as admin:
        made = admin.post("/v1/acme/eab-keys", json={"principal": team.name})
        unknown = admin.post("/v1/acme/eab-keys", json={"principal": "nobody-at-all"})
    with service.client(team) as member:
        refused = member.post("/v1/acme/eab-keys", json={"principal": team.name})
    with service.client() as admin:
        audit = admin.get(
            "/v1/audit", params={"action": "acme.eab_key.create", "target": team.name}
        )

    assert made.status_code == 201, made.text
    body = made.json()
    assert body["principal"] == team.name and body["key_id"].startswith("eab-")
    assert len(base64.urlsafe_b64decode(body["hmac_key"] + "==")) == 32
    assert_error(unknown, 404, "not_found")
    assert_error(refused, 403, "auth.forbidden")
    assert [e["result"] for e in audit.json()["items"]] == ["auth.forbidden", "ok"]
