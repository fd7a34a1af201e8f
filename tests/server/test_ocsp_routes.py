"""``/ocsp/<ca>`` on a real ``certward serve``: GET and POST, caching headers, bad requests."""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Iterator

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from tests.server.service import Service, poll_until

# OCSP CertIDs name the issuer by SHA-1 hashes (RFC 5019); not a security use.
CERTID_SHA1 = hashes.SHA1()  # noqa: S303

OCSP_REQUEST = "application/ocsp-request"
OCSP_RESPONSE = "application/ocsp-response"


def _issue(service: Service, name: str) -> tuple[x509.Certificate, x509.Certificate]:
    with service.client() as api:
        response = api.post(
            "/v1/certificates",
            json={
                "ca": "issuing",
                "profile": "server",
                "common_name": name,
                "sans": [f"DNS:{name}"],
            },
        )
    assert response.status_code == 201, response.text
    leaf, issuer = x509.load_pem_x509_certificates(response.json()["chain_pem"].encode())[:2]
    return leaf, issuer


def _request(
    leaf: x509.Certificate, issuer: x509.Certificate, *, nonce: bytes | None = None
) -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, CERTID_SHA1)
    if nonce is not None:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def _post(client: httpx.Client, ca: str, body: bytes) -> httpx.Response:
    return client.post(f"/ocsp/{ca}", content=body, headers={"content-type": OCSP_REQUEST})


def _status(response: httpx.Response) -> ocsp.OCSPResponse:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == OCSP_RESPONSE
    return ocsp.load_der_ocsp_response(response.content)


@pytest.fixture
def anonymous(service: Service) -> Iterator[httpx.Client]:
    """A client with no certificate: OCSP needs none."""
    with service.client(None) as client:
        yield client


def test_post_answers_good_without_a_client_certificate(
    service: Service, anonymous: httpx.Client
) -> None:
    leaf, issuer = _issue(service, "post.ocsp.example")

    response = _post(anonymous, "issuing", _request(leaf, issuer))

    assert _status(response).certificate_status is ocsp.OCSPCertStatus.GOOD
    assert response.headers["x-request-id"]


def test_get_answers_with_the_request_in_the_path_and_may_be_cached(
    service: Service, anonymous: httpx.Client
) -> None:
    leaf, issuer = _issue(service, "get.ocsp.example")
    encoded = base64.b64encode(_request(leaf, issuer)).decode()

    plain = anonymous.get(f"/ocsp/issuing/{encoded}")
    quoted = anonymous.get(f"/ocsp/issuing/{urllib.parse.quote(encoded, safe='')}")

    assert _status(plain).certificate_status is ocsp.OCSPCertStatus.GOOD
    assert plain.content == quoted.content  # the same pre-signed bytes
    assert plain.headers["cache-control"] == "max-age=1800, public, no-transform"


def test_a_nonce_is_echoed_and_the_answer_is_not_cacheable(
    service: Service, anonymous: httpx.Client
) -> None:
    leaf, issuer = _issue(service, "nonce.ocsp.example")

    response = _post(anonymous, "issuing", _request(leaf, issuer, nonce=b"0123456789abcdef"))

    nonce = _status(response).extensions.get_extension_for_class(x509.OCSPNonce).value
    assert nonce.nonce == b"0123456789abcdef"
    assert response.headers["cache-control"] == "no-store"


def test_a_revocation_through_the_api_is_answered_within_a_poll(
    service: Service, anonymous: httpx.Client
) -> None:
    leaf, issuer = _issue(service, "revoke.ocsp.example")
    request = _request(leaf, issuer)
    assert _status(_post(anonymous, "issuing", request)).certificate_status is (
        ocsp.OCSPCertStatus.GOOD
    )
    with service.client() as api:
        revoked = api.post(
            f"/v1/certificates/{leaf.serial_number:x}/revoke", json={"reason": "superseded"}
        )
    assert revoked.status_code == 200, revoked.text

    def seen_revoked() -> ocsp.OCSPResponse | None:
        answer = _status(_post(anonymous, "issuing", request))
        return answer if answer.certificate_status is ocsp.OCSPCertStatus.REVOKED else None

    answer = poll_until(seen_revoked, within=2.0)
    assert answer is not None, "the cached good answer outlived the revocation"
    assert answer.revocation_reason is x509.ReasonFlags.superseded


def test_a_get_asked_again_after_a_revocation_answers_revoked(
    service: Service, anonymous: httpx.Client
) -> None:
    leaf, issuer = _issue(service, "revoke-get.ocsp.example")
    path = f"/ocsp/issuing/{base64.b64encode(_request(leaf, issuer)).decode()}"
    assert _status(anonymous.get(path)).certificate_status is ocsp.OCSPCertStatus.GOOD
    with service.client() as api:
        revoked = api.post(
            f"/v1/certificates/{leaf.serial_number:x}/revoke", json={"reason": "superseded"}
        )
    assert revoked.status_code == 200, revoked.text

    def seen_revoked() -> ocsp.OCSPResponse | None:
        answer = _status(anonymous.get(path))  # the same path: remembered, not re-decoded
        return answer if answer.certificate_status is ocsp.OCSPCertStatus.REVOKED else None

    assert poll_until(seen_revoked, within=2.0) is not None


def test_head_answers_the_headers_of_get_without_the_body(
    service: Service, anonymous: httpx.Client
) -> None:
    leaf, issuer = _issue(service, "head.ocsp.example")
    path = f"/ocsp/issuing/{base64.b64encode(_request(leaf, issuer)).decode()}"

    got = anonymous.get(path)
    head = anonymous.head(path)

    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(len(got.content))
    assert head.headers["cache-control"] == got.headers["cache-control"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/ocsp/issuing", b"not an ocsp request"),
        ("/ocsp/issuing", b""),
        ("/ocsp/issuing/a/b", b"\x30\x00"),
    ],
    ids=["garbage", "empty", "ca-with-slash"],
)
def test_malformed_requests_get_the_malformed_status(
    anonymous: httpx.Client, path: str, body: bytes
) -> None:
    response = anonymous.post(path, content=body, headers={"content-type": OCSP_REQUEST})

    assert _status(response).response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


@pytest.mark.parametrize("encoded", ["%%%", "not-base64!", "", "AAAA"])
def test_malformed_get_requests_get_the_malformed_status(
    anonymous: httpx.Client, encoded: str
) -> None:
    response = anonymous.get(f"/ocsp/issuing/{encoded}")

    assert _status(response).response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_a_certificate_asked_of_the_wrong_ca_is_unauthorized(
    service: Service, anonymous: httpx.Client
) -> None:
    leaf, issuer = _issue(service, "wrong-ca.ocsp.example")

    for ca in ("root", "no-such-ca"):
        response = _post(anonymous, ca, _request(leaf, issuer))

        assert _status(response).response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED


def test_other_methods_and_huge_bodies_are_refused(anonymous: httpx.Client) -> None:
    put = anonymous.put("/ocsp/issuing", content=b"x")
    huge = _post(anonymous, "issuing", b"\x30" * 20_000)

    assert put.status_code == 405
    assert put.headers["allow"] == "GET, HEAD, POST"
    assert huge.status_code == 413


def test_answers_are_counted_in_the_metrics(service: Service, anonymous: httpx.Client) -> None:
    _post(anonymous, "issuing", b"garbage")

    with service.client() as api:
        metrics = api.get("/metrics").text

    assert 'certward_ocsp_responses_total{outcome="malformedRequest"}' in metrics
    assert 'route="/ocsp/{ca}"' in metrics
