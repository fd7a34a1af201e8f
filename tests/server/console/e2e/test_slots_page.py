"""In Chromium, as the admin: install and replace a slot certificate; make a CSR and download it.

Files are chosen with the page's file inputs, as a user picks them; every step goes
through the slot page's forms.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509

from tests.certs.factory import TestCA

CA = TestCA("Browser Slots Root")


def _pem(name: str, data: bytes) -> dict[str, Any]:
    return {"name": name, "mimeType": "application/x-pem-file", "buffer": data}


def _new_slot(admin: httpx.Client, directory: Path) -> str:
    name = f"server/browser-{uuid.uuid4().hex[:8]}"
    created = admin.post("/v1/slots", json={"name": name, "directory": str(directory)})
    assert created.status_code == 201, created.text
    return name


def test_install_then_replace_a_slot_certificate(
    admin_page: Any, admin: httpx.Client, tmp_path: Path
) -> None:
    page = admin_page
    directory = tmp_path / "slot"
    slot = _new_slot(admin, directory)
    first, second = CA.issue("bmc-a.example.test"), CA.issue("bmc-b.example.test", key="rsa")

    page.goto(f"/ui/slots/{slot}")
    assert page.locator("#slot-empty").is_visible()
    install = page.locator(f"form[action='/ui/slots/{slot}/install']")
    install.get_by_label("Certificate file (PEM)").set_input_files(
        _pem("cert.pem", first.chain_pem)
    )
    install.get_by_label("Private key file (PEM)").set_input_files(_pem("key.pem", first.key_pem))
    install.get_by_role("button", name="Install").click()
    page.wait_for_url(re.compile(r".*flash=Installed.*"))
    assert page.locator(".certificate .subject").all_inner_texts() == ["CN=bmc-a.example.test"]
    assert (directory / "cert.pem").read_bytes().startswith(first.cert_pem)

    certificate = page.locator("article.certificate")
    certificate.get_by_text("Replace this certificate").click()
    replace = certificate.locator("form[action$='/replace']")
    replace.get_by_label("Certificate file (PEM)").set_input_files(
        _pem("new.pem", second.chain_pem)
    )
    replace.get_by_label("Private key file (PEM)").set_input_files(_pem("new.key", second.key_pem))
    replace.get_by_role("button", name="Replace").click()
    page.wait_for_url(re.compile(r".*flash=Replaced.*"))
    assert page.locator(".certificate .subject").all_inner_texts() == ["CN=bmc-b.example.test"]
    assert (directory / "cert.pem").read_bytes().startswith(second.cert_pem)


def test_a_csr_job_shows_its_progress_and_offers_the_csr_when_done(
    admin_page: Any, admin: httpx.Client, tmp_path: Path
) -> None:
    page = admin_page
    slot = _new_slot(admin, tmp_path / "csr")
    csp_errors: list[str] = []
    page.on(
        "console", lambda m: csp_errors.append(m.text) if "Content Security" in m.text else None
    )

    page.goto(f"/ui/slots/{slot}")
    form = page.locator(f"form[action='/ui/slots/{slot}/csr']")
    for label, value in (
        ("Common name", "bmc.example.test"),
        ("Organization", "ABCD"),
        ("Organizational unit", "XY"),
        ("City", "Austin"),
        ("State", "TX"),
        ("Country", "US"),
    ):
        form.get_by_label(label, exact=False).first.fill(value)
    form.get_by_label("ServerAuthentication").check()
    form.get_by_role("button", name="Generate CSR").click()
    page.wait_for_url(re.compile(r".*/ui/slots/csr/[0-9a-f]{32}$"))

    # The state fragment replaces itself (htmx polling) until the job is done; no reload.
    download_link = page.locator("#csr-download")
    download_link.wait_for(timeout=60_000)
    assert page.locator("#csr-state").inner_text() == "succeeded"
    with page.expect_download() as download:
        download_link.click()
    csr = x509.load_pem_x509_csr(Path(download.value.path()).read_bytes())
    assert csr.subject.rfc4514_string().startswith("CN=bmc.example.test")
    assert csp_errors == []
