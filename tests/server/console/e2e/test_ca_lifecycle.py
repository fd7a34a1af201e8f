"""In Chromium, as the admin: create a CA, issue, find, revoke, and see the CRL change.

The admin's ``admin.p12`` is presented as the browser's client certificate, as a
user who imported it would; every step goes through the console's forms.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from cryptography import x509


def _crl_entries(page: Any, ca: str) -> int:
    return int(page.locator(f"#ca-{ca} .crl-entries").first.inner_text())


def test_create_a_ca_issue_find_revoke_and_see_the_crl_change(admin_page: Any) -> None:
    page = admin_page
    ca = f"shop-{uuid.uuid4().hex[:6]}"
    host = f"checkout-{uuid.uuid4().hex[:6]}.example.com"

    # Create an intermediate CA under the root.
    page.goto("/ui/cas")
    create = page.locator("form[action='/ui/cas/create']")
    create.get_by_label("Name").fill(ca)
    create.get_by_label("Subject").fill(f"/CN={ca} Issuing CA/O=Example Shop")
    create.get_by_label("Signed by").select_option("root")
    create.get_by_role("button", name="Create CA").click()
    page.wait_for_url(re.compile(r".*/ui/cas\?flash=.*"))
    assert f"Created intermediate CA under root {ca}" in page.locator(".flash").inner_text()
    assert _crl_entries(page, ca) == 0

    # Issue a server certificate from it.
    issue = page.locator("form[action='/ui/cas/issue']")
    issue.get_by_label("CA").select_option(ca)
    issue.get_by_label("Profile").select_option("server")
    issue.get_by_label("Common name").fill(host)
    issue.get_by_label("Subject alternative names").fill(f"DNS:{host}")
    issue.get_by_role("button", name="Issue").click()
    page.wait_for_url(re.compile(r".*/ui/certificates/[0-9a-f]+\?flash=.*"))
    serial = page.url.split("/ui/certificates/")[1].split("?")[0]

    # Find it by searching for its name.
    page.goto("/ui/certificates")
    page.get_by_label("Subject, SAN or serial").fill(host)
    page.get_by_role("button", name="Search").click()
    results = page.locator("tbody tr")
    assert results.count() == 1
    results.first.get_by_role("link", name=serial).click()
    assert page.locator("#certificate-state").inner_text() == "valid"

    # Revoke it (the console asks before sending).
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_label("Reason").select_option("keyCompromise")
    page.get_by_role("button", name="Revoke and publish the CRL").click()
    page.wait_for_url(re.compile(r".*flash=Revoked.*"))
    assert page.locator("#certificate-state").inner_text() == "revoked"

    # The CA's CRL now lists it: on the CAs page, and in the CRL file downloaded from there.
    page.goto("/ui/cas")
    assert _crl_entries(page, ca) == 1
    with page.expect_download() as download:
        page.locator(f"#ca-{ca}").get_by_role("link", name="CRL (DER)").first.click()
    crl = x509.load_der_x509_crl(Path(download.value.path()).read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(int(serial, 16)) is not None
