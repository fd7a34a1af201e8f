"""The service slots page over real mTLS: install, replace, delete, CSR jobs, refusals."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from certward.certs.jobs import CSRJob, JobState
from certward.server.console.render import environment
from tests.certs.factory import TestCA
from tests.server.console.console import assert_console_page, post_form
from tests.server.service import Identity, Service, poll_until

CA = TestCA("Console Slots Root")


@pytest.fixture
def new_slot(admin: httpx.Client, tmp_path: Path) -> Callable[..., str]:
    """Make an API slot (``server`` unless told) in a fresh directory; its name."""

    def make(kind: str = "server", **settings: Any) -> str:
        name = f"{kind}/web-{uuid.uuid4().hex[:8]}"
        directory = tmp_path / name.replace("/", "-")
        created = admin.post(
            "/v1/slots", json={"name": name, "directory": str(directory), **settings}
        )
        assert created.status_code == 201, created.text
        return name

    return make


def _certificates(admin: httpx.Client, slot: str) -> list[dict[str, Any]]:
    response = admin.get(f"/v1/slots/{slot}/certificates")
    assert response.status_code == 200, response.text
    return list(response.json())


def _install_through_api(admin: httpx.Client, slot: str, common_name: str) -> dict[str, Any]:
    leaf = CA.issue(common_name)
    response = admin.post(
        f"/v1/slots/{slot}/certificates",
        json={"certificate_pem": leaf.chain_pem.decode(), "key_pem": leaf.key_pem.decode()},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _upload(common_name: str, *, key: bytes | None = None) -> dict[str, Any]:
    leaf = CA.issue(common_name)
    return {
        "certificate": ("cert.pem", leaf.chain_pem, "application/x-pem-file"),
        "key": ("key.pem", key if key is not None else leaf.key_pem, "application/x-pem-file"),
    }


def _field_error(html: str, form: str, field: str) -> str:
    found = re.search(rf'id="f-{form}-{field}-error">([^<]*)<', html)
    assert found, f"no error next to {field} of form {form}"
    return found.group(1)


def _audit_actions(admin: httpx.Client, slot: str) -> list[tuple[str, str, str]]:
    events = admin.get("/v1/audit", params={"target": slot}).json()["items"]
    return [(e["action"], e["principal"], e["result"]) for e in events]


# -- reading ------------------------------------------------------------------------------


def test_the_list_shows_each_slot_with_its_current_certificate(
    admin: httpx.Client, new_slot: Callable[..., str]
) -> None:
    slot = new_slot()
    _install_through_api(admin, slot, "listed.example.test")

    html = assert_console_page(admin.get("/ui/slots"), 200)

    assert f'href="/ui/slots/{slot}"' in html
    assert "CN=listed.example.test" in html


def test_a_slot_page_shows_subject_issuer_and_validity_of_its_certificate(
    admin: httpx.Client, new_slot: Callable[..., str]
) -> None:
    slot = new_slot()
    installed = _install_through_api(admin, slot, "shown.example.test")

    html = assert_console_page(admin.get(f"/ui/slots/{slot}"), 200)

    assert "CN=shown.example.test" in html
    assert "CN=Console Slots Root" in html
    assert installed["not_after"][:10] in html
    assert installed["fingerprint_sha256"] in html


# -- install, replace, delete -----------------------------------------------------------


def test_installing_a_certificate_and_its_key_file_fills_the_slot_audited(
    admin: httpx.Client, new_slot: Callable[..., str]
) -> None:
    slot = new_slot()

    answer = post_form(
        admin, f"/ui/slots/{slot}", f"/ui/slots/{slot}/install", {}, files=_upload("a.test")
    )

    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].startswith(f"/ui/slots/{slot}?flash=Installed")
    assert [c["subject"] for c in _certificates(admin, slot)] == ["CN=a.test"]
    assert ("slot.install", "admin", "ok") in _audit_actions(admin, slot)


def test_replacing_a_certificate_puts_the_new_one_in_its_place(
    admin: httpx.Client, new_slot: Callable[..., str]
) -> None:
    slot = new_slot()
    old = _install_through_api(admin, slot, "old.example.test")

    answer = post_form(
        admin,
        f"/ui/slots/{slot}",
        f"/ui/slots/{slot}/certificates/{old['id']}/replace",
        {},
        files=_upload("new.example.test"),
    )

    assert answer.status_code == 303, answer.text
    assert [c["subject"] for c in _certificates(admin, slot)] == ["CN=new.example.test"]
    assert ("slot.replace", "admin", "ok") in _audit_actions(admin, slot)


def test_deleting_the_certificate_of_a_server_slot_leaves_a_self_signed_one(
    admin: httpx.Client, new_slot: Callable[..., str]
) -> None:
    slot = new_slot(host_name="fallback.example.test")
    old = _install_through_api(admin, slot, "gone.example.test")

    answer = post_form(
        admin, f"/ui/slots/{slot}", f"/ui/slots/{slot}/certificates/{old['id']}/delete", {}
    )

    assert answer.status_code == 303, answer.text
    assert "self-signed" in httpx.QueryParams(answer.headers["location"].split("?", 1)[1])["flash"]
    [fallback] = _certificates(admin, slot)
    assert fallback["subject"] == fallback["issuer"] == "CN=fallback.example.test"


def test_a_key_that_does_not_match_is_shown_next_to_the_key_field_and_nothing_changes(
    admin: httpx.Client, new_slot: Callable[..., str]
) -> None:
    slot = new_slot()
    other_key = CA.issue("other.test").key_pem

    answer = post_form(
        admin,
        f"/ui/slots/{slot}",
        f"/ui/slots/{slot}/install",
        {},
        files=_upload("mismatch.test", key=other_key),
    )

    html = assert_console_page(answer, 400)
    assert "key" in _field_error(html, "install", "key").lower()
    assert "Nothing was changed" in html
    assert _certificates(admin, slot) == []


def test_an_install_without_a_certificate_file_is_shown_next_to_that_field(
    admin: httpx.Client, new_slot: Callable[..., str]
) -> None:
    slot = new_slot()

    answer = post_form(admin, f"/ui/slots/{slot}", f"/ui/slots/{slot}/install", {})

    html = assert_console_page(answer, 400)
    assert "certificate file" in _field_error(html, "install", "certificate")
    assert _certificates(admin, slot) == []


def test_a_second_install_into_a_server_slot_is_refused_with_the_services_words(
    admin: httpx.Client, new_slot: Callable[..., str]
) -> None:
    slot = new_slot()
    kept = _install_through_api(admin, slot, "kept.example.test")

    answer = post_form(
        admin, f"/ui/slots/{slot}", f"/ui/slots/{slot}/install", {}, files=_upload("b.test")
    )

    html = assert_console_page(answer, 400)
    assert "Certificate already exist" in html
    assert [c["id"] for c in _certificates(admin, slot)] == [kept["id"]]


# -- CSR jobs ---------------------------------------------------------------------------


_CSR_FIELDS = {
    "common_name": "bmc.example.test",
    "organization": "ABCD",
    "organizational_unit": "XY",
    "city": "Austin",
    "state": "TX",
    "country": "US",
    "alternative_names": "bmc.example.test, 10.0.0.5",
    "key_pair_algorithm": "EC",
    "key_curve_id": "secp256r1",
    "key_usage": ["ServerAuthentication", "KeyAgreement"],
}


def test_a_csr_is_made_in_the_background_and_downloaded_when_its_job_is_done(
    admin: httpx.Client, new_slot: Callable[..., str]
) -> None:
    slot = new_slot()

    started = post_form(admin, f"/ui/slots/{slot}", f"/ui/slots/{slot}/csr", _CSR_FIELDS)

    assert started.status_code == 303, started.text
    job_page = started.headers["location"]
    assert re.fullmatch(r"/ui/slots/csr/[0-9a-f]{32}", job_page)
    assert_console_page(admin.get(job_page), 200)
    done = poll_until(
        lambda: 'id="csr-download"' in (html := admin.get(job_page + "/status").text) and html,
        within=60,
    )
    assert done, "the CSR job did not finish"
    download = admin.get(job_page + "/csr.pem")
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith("attachment")
    csr = x509.load_pem_x509_csr(download.content)
    assert csr.subject.rfc4514_string() == "CN=bmc.example.test,OU=XY,O=ABCD,L=Austin,ST=TX,C=US"
    assert ("slot.csr", "admin", "ok") in _audit_actions(admin, slot)


def _job(state: JobState, **facts: Any) -> CSRJob:
    return CSRJob(
        id="ab" * 16,
        slot="server/https",
        state=state,
        key_type="ec-p384",
        request={},
        created_at=datetime(2030, 1, 1, tzinfo=UTC),
        **facts,
    )


def test_a_running_job_fragment_polls_itself_and_offers_no_download_yet() -> None:
    fragment = environment().get_template("slots/csr_status.html")

    html = fragment.render(job=_job(JobState.RUNNING), base="/ui")

    assert f'hx-get="/ui/slots/csr/{"ab" * 16}/status"' in html
    assert 'hx-trigger="load delay:500ms"' in html and 'hx-swap="outerHTML"' in html
    assert "csr-download" not in html


def test_a_finished_job_fragment_stops_polling_and_offers_the_csr() -> None:
    fragment = environment().get_template("slots/csr_status.html")

    html = fragment.render(job=_job(JobState.SUCCEEDED, csr_pem="PEM"), base="/ui")

    assert "hx-get" not in html
    assert f'href="/ui/slots/csr/{"ab" * 16}/csr.pem"' in html


def test_a_csr_field_the_service_refuses_is_shown_next_to_it_and_no_job_starts(
    admin: httpx.Client, new_slot: Callable[..., str]
) -> None:
    slot = new_slot()
    before = _audit_actions(admin, slot)

    answer = post_form(
        admin, f"/ui/slots/{slot}", f"/ui/slots/{slot}/csr", {**_CSR_FIELDS, "country": "USA"}
    )

    html = assert_console_page(answer, 400)
    assert "two-letter" in _field_error(html, "csr", "country")
    assert 'value="bmc.example.test"' in html  # the other fields are kept
    assert _audit_actions(admin, slot) == before


def test_a_refused_optional_field_is_shown_next_to_it_with_its_section_open(
    admin: httpx.Client, new_slot: Callable[..., str]
) -> None:
    slot = new_slot()

    answer = post_form(
        admin, f"/ui/slots/{slot}", f"/ui/slots/{slot}/csr", {**_CSR_FIELDS, "email": "nobody"}
    )

    html = assert_console_page(answer, 400)
    assert "not an e-mail address" in _field_error(html, "csr", "email")
    assert re.search(r"<details open>\s*<summary>More subject fields", html)


def test_a_csr_signed_by_a_certward_ca_is_installed_into_the_slot_by_its_job(
    admin: httpx.Client, new_slot: Callable[..., str]
) -> None:
    slot = new_slot()

    started = post_form(
        admin,
        f"/ui/slots/{slot}",
        f"/ui/slots/{slot}/csr",
        {**_CSR_FIELDS, "sign_with": "issuing", "profile": "server"},
    )

    job_page = started.headers["location"]
    done = poll_until(
        lambda: "installed into" in (html := admin.get(job_page + "/status").text) and html,
        within=60,
    )
    assert done, "the CSR job did not install a certificate"
    [installed] = _certificates(admin, slot)
    assert installed["subject"].startswith("CN=bmc.example.test")
    assert "certward Issuing CA" in installed["issuer"]


def test_an_authority_slot_offers_no_csr_form(
    admin: httpx.Client, new_slot: Callable[..., str]
) -> None:
    slot = new_slot("authority")

    html = assert_console_page(admin.get(f"/ui/slots/{slot}"), 200)

    assert "Generate a CSR" not in html
    assert "Install a certificate" in html


# -- access -------------------------------------------------------------------------------


def test_a_principal_sees_only_the_slots_it_may_manage(
    console_service: Service,
    new_slot: Callable[..., str],
    principal_for: Callable[..., Identity],
) -> None:
    mine, other = new_slot(), new_slot()
    identity = principal_for({"permission": "certs.manage", "resources": [mine]})

    with console_service.client(identity) as client:
        listing = assert_console_page(client.get("/ui/slots"), 200)
        refused = client.get(f"/ui/slots/{other}")

    assert f'href="/ui/slots/{mine}"' in listing
    assert other not in listing
    assert "certs.manage" in assert_console_page(refused, 403)


def test_a_post_to_a_slot_without_the_grant_is_refused_with_the_403_page_and_audited(
    admin: httpx.Client,
    console_service: Service,
    new_slot: Callable[..., str],
    principal_for: Callable[..., Identity],
) -> None:
    mine, other = new_slot(), new_slot()
    identity = principal_for({"permission": "certs.manage", "resources": [mine]})

    with console_service.client(identity) as client:
        answer = post_form(
            client, f"/ui/slots/{mine}", f"/ui/slots/{other}/install", {}, files=_upload("x.test")
        )

    assert_console_page(answer, 403)
    assert _certificates(admin, other) == []
    assert ("slot.install", identity.name, "auth.forbidden") in _audit_actions(admin, other)


def test_a_principal_without_any_slot_grant_sees_a_notice_and_no_slot(
    console_service: Service,
    new_slot: Callable[..., str],
    principal_for: Callable[..., Identity],
) -> None:
    slot = new_slot()
    identity = principal_for("audit.read")

    with console_service.client(identity) as client:
        html = assert_console_page(client.get("/ui/slots"), 200)

    assert "certs.manage" in html
    assert slot not in html
