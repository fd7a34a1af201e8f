"""The CAs page: hierarchy, create / issue / bulk issue forms, CRL publishing with progress."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx

from tests.server.console.console import (
    assert_console_page,
    field_error,
    job_outcome,
    post_form,
)
from tests.server.service import Identity, Service


def _count_matching(admin: httpx.Client, search: str) -> int:
    response = admin.get("/v1/certificates", params={"search": search, "limit": 1000})
    return len(response.json()["items"])


def _audit(admin: httpx.Client, action: str, target: str) -> list[dict[str, object]]:
    response = admin.get("/v1/audit", params={"action": action, "target": target})
    items: list[dict[str, object]] = response.json()["items"]
    return items


def test_the_tree_shows_each_ca_under_its_parent_with_its_crl(admin: httpx.Client) -> None:
    text = assert_console_page(admin.get("/ui/cas"), 200)
    root = text.index('id="ca-root"')
    issuing = text.index('id="ca-issuing"')
    assert root < issuing
    assert "<ul>" in text[root:issuing]  # issuing is nested in root's list
    assert "/ca/issuing/crl.pem" in text
    assert 'class="crl-entries"' in text


def test_creating_a_ca_answers_303_and_shows_it_in_the_tree(admin: httpx.Client) -> None:
    name = f"team-{uuid.uuid4().hex[:6]}"
    response = post_form(
        admin,
        "/ui/cas",
        "/ui/cas/create",
        {"name": name, "subject": f"/CN={name} CA/O=Example", "parent": "root"},
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/ui/cas?flash=")
    assert response.headers["location"].endswith(f"#ca-{name}")
    text = admin.get(response.headers["location"]).text
    assert f'id="ca-{name}"' in text
    assert f"intermediate CA under root {name}" in text
    assert _audit(admin, "ca.create", name)[0]["result"] == "ok"


def test_a_refused_create_form_shows_the_error_next_to_the_name_and_creates_nothing(
    admin: httpx.Client,
) -> None:
    response = post_form(
        admin, "/ui/cas", "/ui/cas/create", {"name": "no spaces!", "subject": "/CN=X"}
    )
    text = assert_console_page(response, 400)
    assert "CA name 'no spaces!' is invalid" in field_error(text, "f-create-name")
    assert 'value="no spaces!"' in text  # what was typed is kept
    assert "no spaces!" not in {ca["name"] for ca in admin.get("/v1/cas").json()}


def test_an_existing_ca_name_is_shown_next_to_the_name(admin: httpx.Client) -> None:
    response = post_form(
        admin, "/ui/cas", "/ui/cas/create", {"name": "issuing", "subject": "/CN=Again"}
    )
    text = assert_console_page(response, 409)
    assert "already exists" in field_error(text, "f-create-name")


def test_issuing_from_the_form_goes_to_the_new_certificate(admin: httpx.Client) -> None:
    name = f"web-{uuid.uuid4().hex[:6]}.example.com"
    response = post_form(
        admin,
        "/ui/cas",
        "/ui/cas/issue",
        {"ca": "issuing", "profile": "server", "common_name": name, "sans": f"DNS:{name}"},
    )
    assert response.status_code == 303
    text = assert_console_page(admin.get(response.headers["location"]), 200)
    assert f"DNS:{name}" in text
    assert _count_matching(admin, name) == 1


def test_a_bad_san_is_shown_next_to_the_sans_field_and_nothing_is_issued(
    admin: httpx.Client,
) -> None:
    name = f"bad-{uuid.uuid4().hex[:6]}"
    response = post_form(
        admin,
        "/ui/cas",
        "/ui/cas/issue",
        {"ca": "issuing", "profile": "server", "common_name": name, "sans": "DNS:not a host"},
    )
    text = assert_console_page(response, 400)
    assert "not a valid host name" in field_error(text, "f-issue-sans")
    assert _count_matching(admin, name) == 0


def test_a_policy_refusal_is_shown_next_to_the_field_it_is_about(admin: httpx.Client) -> None:
    name = f"nosan-{uuid.uuid4().hex[:6]}"
    # The server profile needs a SAN: the service says so, next to the SANs field.
    response = post_form(
        admin,
        "/ui/cas",
        "/ui/cas/issue",
        {"ca": "issuing", "profile": "server", "common_name": name, "sans": ""},
    )
    text = assert_console_page(response, 422)
    assert field_error(text, "f-issue-sans")
    assert _count_matching(admin, name) == 0


def test_a_reader_sees_the_cas_read_only(
    console_service: Service, principal_for: Callable[..., Identity]
) -> None:
    reader = principal_for({"permission": "ca.read"})
    with console_service.client(reader) as client:
        text = assert_console_page(client.get("/ui/cas"), 200)
    assert 'id="ca-issuing"' in text
    for action in ("/ui/cas/create", "/ui/cas/issue", "/ui/cas/bulk-issue", '/crl"'):
        assert f'action="{action}' not in text
    assert "Publish CRL now" not in text
    assert "needs the <code>admin</code> grant" in text


def test_a_reader_posting_the_issue_form_gets_a_403_page_and_the_refusal_is_audited(
    console_service: Service, admin: httpx.Client, principal_for: Callable[..., Identity]
) -> None:
    reader = principal_for({"permission": "ca.read"})
    name = f"sneaky-{uuid.uuid4().hex[:6]}"
    with console_service.client(reader) as client:
        response = post_form(
            client,
            "/ui/cas",
            "/ui/cas/issue",
            {"ca": "issuing", "profile": "client", "common_name": name},
        )
    text = assert_console_page(response, 403)
    assert "has no grant for ca.issue" in text
    assert _count_matching(admin, name) == 0
    assert _audit(admin, "certificate.issue", name)[0]["result"] == "auth.forbidden"


def test_bulk_issue_shows_progress_until_every_certificate_is_issued(
    admin: httpx.Client,
) -> None:
    prefix = f"fleet-{uuid.uuid4().hex[:6]}"
    response = post_form(
        admin,
        "/ui/cas",
        "/ui/cas/bulk-issue",
        {"ca": "issuing", "profile": "client", "prefix": prefix, "count": "12"},
    )
    assert response.status_code == 303
    job = response.headers["location"]
    assert job.startswith("/ui/jobs/")
    page = assert_console_page(admin.get(job), 200)
    assert "<progress" in page
    outcome = job_outcome(admin, job)
    assert 'value="12"' in outcome
    assert f"Issued 12 certificates {prefix}-0001 to {prefix}-0012" in outcome
    assert _count_matching(admin, f"{prefix}-") == 12


def test_a_refused_bulk_form_issues_nothing(admin: httpx.Client) -> None:
    prefix = f"nofleet-{uuid.uuid4().hex[:6]}"
    response = post_form(
        admin,
        "/ui/cas",
        "/ui/cas/bulk-issue",
        {"ca": "issuing", "profile": "no-such-profile", "prefix": prefix, "count": "5"},
    )
    text = assert_console_page(response, 422)
    assert "unknown profile" in field_error(text, "f-bulk-profile")
    assert _count_matching(admin, prefix) == 0


def test_a_count_out_of_range_is_shown_next_to_the_count(admin: httpx.Client) -> None:
    response = post_form(
        admin,
        "/ui/cas",
        "/ui/cas/bulk-issue",
        {"ca": "issuing", "profile": "client", "prefix": "many", "count": "100000"},
    )
    assert "must be 1-1000" in field_error(assert_console_page(response, 400), "f-bulk-count")


def test_publishing_a_crl_reports_progress_and_is_audited(admin: httpx.Client) -> None:
    before = admin.get("/v1/cas/issuing").json()["crl_number"]
    response = post_form(admin, "/ui/cas", "/ui/cas/issuing/crl", {})
    assert response.status_code == 303
    outcome = job_outcome(admin, response.headers["location"])
    after = admin.get("/v1/cas/issuing").json()["crl_number"]
    assert after > before
    assert (
        f"Published CRL number {after} of issuing" in outcome or "Published CRL number" in outcome
    )
    assert _audit(admin, "crl.publish", "issuing")[0]["result"] == "ok"


def test_another_principals_job_is_not_shown(
    console_service: Service, admin: httpx.Client, principal_for: Callable[..., Identity]
) -> None:
    response = post_form(admin, "/ui/cas", "/ui/cas/issuing/crl", {})
    job = response.headers["location"]
    with console_service.client(principal_for("audit.read")) as client:
        text = assert_console_page(client.get(job), 200)
    assert "not known to this server process" in text
    assert "Published CRL" not in text
