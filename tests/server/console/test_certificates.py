"""The certificates page: search, filters, paging, detail, downloads, PKCS#12 and revocation."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.server.console.console import assert_console_page, field_error, post_form
from tests.server.service import Identity, Service

SERIAL_LINK = re.compile(r'href="/ui/certificates/([0-9a-f]+)"')


def _issue(admin: httpx.Client, name: str, *, profile: str = "server") -> dict[str, str]:
    body = {"ca": "issuing", "profile": profile, "common_name": name}
    if profile == "server":
        body["sans"] = [f"DNS:{name}.example.net"]
    response = admin.post("/v1/certificates", json=body)
    assert response.status_code == 201, response.text
    result: dict[str, str] = response.json()
    return result


@pytest.fixture
def issued(admin: httpx.Client) -> dict[str, str]:
    return _issue(admin, f"shop-{uuid.uuid4().hex[:8]}")


def _listed(text: str) -> list[str]:
    return SERIAL_LINK.findall(text)


@pytest.mark.parametrize("by", ["common_name", "san", "serial", "serial_with_colons"])
def test_search_finds_a_certificate_by_subject_san_or_serial(
    admin: httpx.Client, issued: dict[str, str], by: str
) -> None:
    name = issued["subject"].split("CN=")[1].split(",")[0]
    query = {
        "common_name": name,
        "san": f"{name}.example.net",
        "serial": issued["serial"],
        "serial_with_colons": bytes.fromhex(issued["serial"].zfill(42)).hex(":").upper(),
    }[by]
    text = assert_console_page(admin.get("/ui/certificates", params={"q": query}), 200)
    assert _listed(text) == [issued["serial"]]


def test_filters_narrow_the_list_by_state(admin: httpx.Client) -> None:
    stem = f"state-{uuid.uuid4().hex[:6]}"
    kept, revoked = _issue(admin, f"{stem}-a"), _issue(admin, f"{stem}-b")
    admin.post(f"/v1/certificates/{revoked['serial']}/revoke", json={"reason": "superseded"})
    only_revoked = admin.get("/ui/certificates", params={"q": stem, "status": "revoked"}).text
    only_valid = admin.get("/ui/certificates", params={"q": stem, "status": "valid"}).text
    assert _listed(only_revoked) == [revoked["serial"]]
    assert _listed(only_valid) == [kept["serial"]]


def test_an_unknown_ca_filter_is_shown_next_to_the_ca_field(admin: httpx.Client) -> None:
    text = assert_console_page(admin.get("/ui/certificates", params={"ca": "nope"}), 404)
    assert "nope" in field_error(text, "f-ca")


def test_paging_walks_the_inventory_newest_first_without_repeats(admin: httpx.Client) -> None:
    stem = f"page-{uuid.uuid4().hex[:6]}"
    serials = [_issue(admin, f"{stem}-{i:02d}", profile="client")["serial"] for i in range(55)]
    first = admin.get("/ui/certificates", params={"q": stem}).text
    next_link = re.search(r'<a rel="next" href="([^"]+)"', first)
    assert next_link, "no next page link"
    second = admin.get(next_link.group(1).replace("&amp;", "&")).text
    assert _listed(first) + _listed(second) == list(reversed(serials))
    assert 'rel="next"' not in second
    assert "First page" in second


def test_the_detail_shows_chain_extensions_and_pem(
    admin: httpx.Client, issued: dict[str, str]
) -> None:
    text = assert_console_page(admin.get(f"/ui/certificates/{issued['serial']}"), 200)
    assert "CN=certward Issuing CA" in text and "CN=certward Root CA" in text
    for extension in ("subjectAltName", "basicConstraints", "keyUsage", "extendedKeyUsage"):
        assert extension in text
    assert issued["certificate_pem"].splitlines()[1] in text


def test_pem_and_chain_download_as_files(admin: httpx.Client, issued: dict[str, str]) -> None:
    serial = issued["serial"]
    pem = admin.get(f"/ui/certificates/{serial}/certificate.pem")
    chain = admin.get(f"/ui/certificates/{serial}/chain.pem")
    assert "attachment" in pem.headers["content-disposition"]
    assert pem.headers["cache-control"] == "no-store"
    assert x509.load_pem_x509_certificate(pem.content).serial_number == int(serial, 16)
    assert len(x509.load_pem_x509_certificates(chain.content)) == 3  # leaf, issuing, root


def test_pkcs12_download_opens_with_the_chosen_password(
    admin: httpx.Client, issued: dict[str, str]
) -> None:
    page = f"/ui/certificates/{issued['serial']}"
    response = post_form(admin, page, f"{page}/pkcs12", {"password": "correct horse"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-pkcs12"
    bundle = pkcs12.load_pkcs12(response.content, b"correct horse")
    assert bundle.cert is not None
    assert bundle.cert.certificate.serial_number == int(issued["serial"], 16)
    assert bundle.key is not None
    events = admin.get("/v1/audit", params={"action": "certificate.export"}).json()["items"]
    assert events[0]["target"] == issued["serial"]


def test_pkcs12_without_a_password_is_refused_next_to_the_password_field(
    admin: httpx.Client, issued: dict[str, str]
) -> None:
    page = f"/ui/certificates/{issued['serial']}"
    response = post_form(admin, page, f"{page}/pkcs12", {"password": ""})
    text = assert_console_page(response, 400)
    assert "needs a password" in field_error(text, "f-pkcs12-password")


def test_pkcs12_export_needs_admin_even_for_an_issuer(
    console_service: Service, issued: dict[str, str], principal_for: Callable[..., Identity]
) -> None:
    issuer = principal_for({"permission": "ca.read"}, {"permission": "ca.issue"})
    page = f"/ui/certificates/{issued['serial']}"
    with console_service.client(issuer) as client:
        shown = assert_console_page(client.get(page), 200)
        assert f'action="{page}/pkcs12"' not in shown
        refused = post_form(client, page, f"{page}/pkcs12", {"password": "pw"})
    assert_console_page(refused, 403)


def test_revoking_from_the_console_publishes_a_crl_that_lists_it(
    console_service: Service, admin: httpx.Client, issued: dict[str, str]
) -> None:
    page = f"/ui/certificates/{issued['serial']}"
    response = post_form(admin, page, f"{page}/revoke", {"reason": "keyCompromise"})
    assert response.status_code == 303
    text = assert_console_page(admin.get(response.headers["location"]), 200)
    assert "revoked" in text and "keyCompromise" in text
    crl = x509.load_der_x509_crl(admin.get("/ca/issuing/crl").content)
    revoked = crl.get_revoked_certificate_by_serial_number(int(issued["serial"], 16))
    assert revoked is not None


def test_an_unknown_reason_is_shown_next_to_the_reason_and_nothing_is_revoked(
    admin: httpx.Client, issued: dict[str, str]
) -> None:
    page = f"/ui/certificates/{issued['serial']}"
    response = post_form(admin, page, f"{page}/revoke", {"reason": "boredom"})
    text = assert_console_page(response, 400)
    assert "unknown revocation reason" in field_error(text, "f-revoke-reason")
    assert admin.get(f"/v1/certificates/{issued['serial']}").json()["status"] == "valid"


def test_revoking_twice_is_refused_on_the_page(admin: httpx.Client, issued: dict[str, str]) -> None:
    page = f"/ui/certificates/{issued['serial']}"
    post_form(admin, page, f"{page}/revoke", {"reason": "superseded"})
    again = post_form(admin, page, f"{page}/revoke", {"reason": "superseded"})
    assert "already revoked" in assert_console_page(again, 409)


def test_a_reader_sees_certificates_without_revoke_or_export(
    console_service: Service, issued: dict[str, str], principal_for: Callable[..., Identity]
) -> None:
    reader = principal_for({"permission": "ca.read"})
    page = f"/ui/certificates/{issued['serial']}"
    with console_service.client(reader) as client:
        text = assert_console_page(client.get(page), 200)
        refused = post_form(client, page, f"{page}/revoke", {"reason": "superseded"})
    assert f'action="{page}/revoke"' not in text
    assert "not revoke it" in text
    assert_console_page(refused, 403)


def test_a_principal_without_ca_read_gets_a_403_page(
    console_service: Service, issued: dict[str, str], principal_for: Callable[..., Identity]
) -> None:
    with console_service.client(principal_for("kds.client")) as client:
        for path in ("/ui/certificates", f"/ui/certificates/{issued['serial']}"):
            assert "has no grant for ca.read" in assert_console_page(client.get(path), 403)
