"""Bad input: a clear 4xx in the one error shape (or a closed connection), nothing stored.

Every refused request is followed by a look at the inventory (certificates,
CAs, principals): a refusal leaves no trace there. Every error carries the
request id in the ``X-Request-ID`` header and in its body, and no stack trace.
"""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.server.service import Service, assert_error

ISSUE = "/v1/certificates"
MAX_BODY = 1_048_576  # the default [service] max_body_bytes


def inventory(api: httpx.Client) -> dict[str, list[str]]:
    """Everything a request could have stored: certificates, CAs and principals, by name."""
    serials: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 1000} | ({"cursor": cursor} if cursor else {})
        page = api.get("/v1/certificates", params=params).json()
        serials += [item["serial"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    return {
        "certificates": sorted(serials),
        "cas": sorted(ca["name"] for ca in api.get("/v1/cas").json()),
        "principals": sorted(p["name"] for p in api.get("/v1/principals").json()),
    }


@pytest.fixture
def api(service: Service) -> Iterator[httpx.Client]:
    with service.client() as client:
        yield client


@pytest.fixture
def unchanged(api: httpx.Client) -> Iterator[None]:
    """Asserts, after the test, that nothing was stored."""
    before = inventory(api)
    yield
    assert inventory(api) == before


def issue_body(**changes: Any) -> dict[str, Any]:
    return {"ca": "issuing", "profile": "client", "common_name": "bad-input"} | changes


@pytest.mark.usefixtures("unchanged")
def test_body_over_the_limit_is_refused_with_413(api: httpx.Client) -> None:
    padding = " " * MAX_BODY
    response = api.post(
        ISSUE,
        content=f'{{"ca": "issuing",{padding}"profile": "client"}}',
        headers={"Content-Type": "application/json"},
    )

    assert_error(response, 413, "input.too_large")


@pytest.mark.usefixtures("unchanged")
def test_chunked_body_over_the_limit_is_refused_with_413(api: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * 65536

    response = api.post(ISSUE, content=chunks(), headers={"Content-Type": "application/json"})

    assert "content-length" not in response.request.headers  # really sent chunked
    assert_error(response, 413, "input.too_large")


def test_body_just_under_the_limit_is_accepted(api: httpx.Client) -> None:
    text = '{"ca": "issuing", "profile": "client", "common_name": "just-under"}'
    padded = text[:-1] + " " * (MAX_BODY - len(text) - 16) + "}"

    response = api.post(ISSUE, content=padded, headers={"Content-Type": "application/json"})

    assert response.status_code == 201, response.text


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None]
)
def test_body_that_is_not_json_by_content_type_is_refused_with_415(
    api: httpx.Client, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}

    response = api.post(ISSUE, content=b'{"ca": "issuing"}', headers=headers)

    assert_error(response, 415, "input.media_type")


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    "body",
    ['{"ca": "issuing", "profile": "client"', "not json", "{'ca': 'issuing'}", "\xff\xfe{}"],
    ids=["truncated", "text", "single-quotes", "not-utf8"],
)
def test_malformed_json_is_refused_with_400(api: httpx.Client, body: str) -> None:
    response = api.post(
        ISSUE, content=body.encode("latin-1"), headers={"Content-Type": "application/json"}
    )

    assert_error(response, 400, "input.invalid")


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (ISSUE, issue_body(common_nme="typo"), "common_nme"),
        ("/v1/cas", {"name": "x", "subject": "/CN=x", "is_root": True}, "is_root"),
        (
            "/v1/principals",
            {"name": "x", "grants": [{"permission": "admin", "scope": "all"}]},
            "scope",
        ),
    ],
    ids=["issue", "ca", "grant"],
)
def test_unknown_fields_are_refused_with_400_naming_them(
    api: httpx.Client, path: str, body: dict[str, Any], field: str
) -> None:
    response = api.post(path, json=body)

    error = assert_error(response, 400, "input.invalid")
    assert field in error["message"]


INVALID = {
    "CA name with a path": (
        "/v1/cas",
        {"name": "../etc", "subject": "/CN=x"},
        400,
        "input.invalid_name",
    ),
    "CA name with a space": (
        "/v1/cas",
        {"name": "my ca", "subject": "/CN=x"},
        400,
        "input.invalid_name",
    ),
    "CA subject": ("/v1/cas", {"name": "x1", "subject": "garbage"}, 400, "input.invalid_subject"),
    "CA key type": (
        "/v1/cas",
        {"name": "x2", "subject": "/CN=x", "key_type": "rsa-1024"},
        400,
        "input.invalid",
    ),
    "CA parent unknown": (
        "/v1/cas",
        {"name": "x3", "subject": "/CN=x", "parent": "nope"},
        404,
        "ca.not_found",
    ),
    "DNS SAN": (ISSUE, issue_body(profile="server", sans=["DNS:-bad-"]), 400, "input.invalid"),
    "IP SAN": (ISSUE, issue_body(profile="server", sans=["IP:999.1.1.1"]), 400, "input.invalid"),
    "SAN type": (ISSUE, issue_body(sans=["BOGUS:x"]), 400, "input.invalid"),
    "SAN without type": (ISSUE, issue_body(sans=["example.com"]), 400, "input.invalid"),
    "non-ASCII e-mail SAN": (
        ISSUE,
        issue_body(sans=["email:jos\u00e9@x.org"]),
        400,
        "input.invalid",
    ),
    "non-ASCII URI SAN": (
        ISSUE,
        issue_body(sans=["URI:https://\u00e9.org/"]),
        400,
        "input.invalid",
    ),
    "key type": (ISSUE, issue_body(key_type="dsa-1024"), 400, "input.invalid"),
    "validity": (ISSUE, issue_body(days=0), 400, "input.invalid"),
    "profile": (ISSUE, issue_body(profile="nope"), 422, "policy.profile_not_found"),
    "unknown CA": (ISSUE, issue_body(ca="nope"), 404, "ca.not_found"),
    "CSR": (
        "/v1/certificates/sign",
        {"ca": "issuing", "profile": "client", "csr_pem": "garbage"},
        400,
        "input.malformed",
    ),
    "principal name": (
        "/v1/principals",
        {"name": "p x", "grants": [{"permission": "admin"}]},
        400,
        "input.invalid_name",
    ),
    "permission": (
        "/v1/principals",
        {"name": "px", "grants": [{"permission": "root"}]},
        400,
        "input.invalid",
    ),
    "body is a list": (ISSUE, [issue_body()], 400, "input.invalid"),
}


@pytest.mark.usefixtures("unchanged")
@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_values_are_refused_with_their_code(api: httpx.Client, case: str) -> None:
    path, body, status, code = INVALID[case]

    response = api.post(path, json=body)

    assert_error(response, status, code)


def test_revoke_with_an_unknown_reason_is_refused_and_revokes_nothing(
    service: Service, api: httpx.Client, tmp_path: Any
) -> None:
    victim = service.issue_client_certificate(tmp_path, f"bad-{uuid.uuid4().hex[:8]}")

    response = api.post(f"/v1/certificates/{victim.serial}/revoke", json={"reason": "bored"})

    assert_error(response, 400, "input.invalid")
    assert api.get(f"/v1/certificates/{victim.serial}").json()["status"] == "valid"


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/v1/cas/nope", "ca.not_found"),
        ("/ca/nope/ca.crt", "ca.not_found"),
        ("/ca/nope/crl", "ca.not_found"),
        ("/v1/certificates/" + "7f" * 16, "certificate.not_found"),
        ("/v1/principals/nope", "not_found"),
        ("/v1/nothing-here", "not_found"),
    ],
)
def test_unknown_things_are_404(api: httpx.Client, path: str, code: str) -> None:
    assert_error(api.get(path), 404, code)


def test_plain_http_on_the_tls_port_is_closed_and_the_service_keeps_serving(
    service: Service,
) -> None:
    plain = service.curl(f"http://{service.host}:{service.port}/health")
    with socket.create_connection((service.host, service.port), timeout=10) as raw:
        raw.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = raw.recv(4096)

    assert plain.returncode != 0
    assert b"HTTP/1" not in answer
    with service.client(None) as anonymous:
        assert anonymous.get("/health").status_code == 200


def test_client_request_id_is_echoed_on_success_and_error(api: httpx.Client) -> None:
    ok = api.get("/v1/whoami", headers={"X-Request-ID": "trace-42.a:b_c"})
    failed = api.get("/v1/cas/nope", headers={"X-Request-ID": "trace-43"})

    assert ok.headers["x-request-id"] == "trace-42.a:b_c"
    assert assert_error(failed, 404, "ca.not_found")["request_id"] == "trace-43"


@pytest.mark.parametrize("given", ["has spaces", "x" * 65, "new\u00e9line"])
def test_unusable_client_request_id_is_replaced_by_a_fresh_one(
    api: httpx.Client, given: str
) -> None:
    response = api.get("/v1/cas/nope", headers={b"X-Request-ID": given.encode()})

    error = assert_error(response, 404, "ca.not_found")
    assert error["request_id"] != given
    # The service's own form: a random per-process prefix, then a counter (hex).
    assert re.fullmatch(r"[0-9a-f]{12}-[0-9a-f]+", error["request_id"])


def test_every_response_carries_a_request_id(service: Service, api: httpx.Client) -> None:
    with service.client(None) as anonymous:
        responses = [anonymous.get("/health"), anonymous.get("/ca/root/ca.crt"), api.get("/v1/cas")]

    ids = [response.headers.get("x-request-id") for response in responses]
    assert all(ids) and len(set(ids)) == len(ids)
