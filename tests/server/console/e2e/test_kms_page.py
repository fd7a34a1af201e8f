"""In Chromium, as the admin: create a KMS key with the form, then rotate it."""

from __future__ import annotations

import re
import uuid
from typing import Any


def test_create_a_key_and_rotate_it(admin_page: Any) -> None:
    page = admin_page
    alias = f"alias/browser-{uuid.uuid4().hex[:8]}"

    page.goto("/ui/kms")
    create = page.locator("form[action='/ui/kms/create']")
    create.get_by_label("Key spec").select_option("EC_P256")
    create.get_by_label("Usage").select_option("SIGN_VERIFY")
    create.get_by_label("Alias").fill(alias)
    create.get_by_label("Description").fill("signs release notes")
    create.get_by_role("button", name="Create key").click()
    page.wait_for_url(re.compile(r".*/ui/kms/keys/key-[0-9a-f-]+\?flash=Created.*"))
    assert page.locator("h1").inner_text() == f"Key {alias}"
    assert page.locator("#key-version").inner_text() == "1"

    page.get_by_role("button", name="Rotate now").click()
    page.wait_for_url(re.compile(r".*flash=Rotated.*"))
    assert page.locator("#key-version").inner_text() == "2"
    assert page.locator("#versions tbody tr").count() == 2
    # The rotation is in the key's usage, read from the audit log.
    assert page.locator("#usage-events").get_by_text("kms.key.rotate").count() == 1
