"""In Chromium, as the admin: create a KMS access point and download its bundle, once."""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.serialization import pkcs12


def test_create_an_access_point_and_download_its_bundle_once(
    admin_page: Any, admin: httpx.Client
) -> None:
    page = admin_page
    alias = f"alias/payments-{uuid.uuid4().hex[:8]}"
    created = admin.post(
        "/v1/kms/keys", json={"spec": "EC_P256", "usage": "SIGN_VERIFY", "alias": alias}
    )
    assert created.status_code == 201, created.text
    name = f"payments-{uuid.uuid4().hex[:6]}"

    page.goto("/ui/principals")
    form = page.locator("form[action='/ui/principals/access-points']")
    form.get_by_label("Name").fill(name)
    form.get_by_label(alias).check()
    form.get_by_label("sign", exact=True).check()
    form.get_by_label("verify", exact=True).check()
    form.get_by_role("button", name="Create access point").click()
    page.get_by_role("heading", name=f"New access point {name}").wait_for()
    password = page.locator("#bundle-password").inner_text()

    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile(r"clientKey_")).click()
    assert download.value.suggested_filename == f"clientKey_{name}.json"
    client_key = json.loads(Path(download.value.path()).read_text())
    key, certificate, _ = pkcs12.load_key_and_certificates(
        base64.b64decode(client_key["PrivateKeyData"]), password.encode()
    )
    assert client_key["KeyId"] == name and key is not None and certificate is not None

    # Afterwards the console has nothing more to give: no password, no link, no file.
    page.goto("/ui/principals")
    row = page.locator(f"#principal-{name}")
    assert "kms.use" in row.inner_text()
    assert password not in page.content()
    assert page.locator("a[download]").count() == 0
