"""The ACME server on a real ``certward serve``, driven by certbot's ``acme`` library and raw JWS.

Good paths: every challenge type issues a certificate; accounts roll keys and
close; certificates are revoked by their account or their key. Bad input gets
the RFC's problem document (application/problem+json with its
urn:ietf:params:acme:error:* type), never a 500, and issues nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import josepy as jose
import pytest
from acme import errors as acme_errors
from acme import messages
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import ocsp

from tests.acme.client import AcmeTestClient, csr_for, new_account_key
from tests.acme.conftest import ORDERS_PER_HOUR
from tests.server.service import Service

PROBLEM = "urn:ietf:params:acme:error:"


def _name(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}.acme.test"


def _problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    """Check an RFC 8555 problem document, with a fresh nonce and no traceback."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == PROBLEM + kind, body
    assert body["status"] == status
    assert body["detail"]
    assert response.headers["replay-nonce"]
    assert "Traceback" not in response.text
    return dict(body)


def _issued(service: Service, name: str) -> list[dict[str, Any]]:
    with service.client() as api:
        response = api.get("/v1/certificates", params={"search": name})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def _leaf(order: messages.OrderResource) -> x509.Certificate:
    return x509.load_pem_x509_certificates(order.fullchain_pem.encode())[0]


# -- directory and nonces --------------------------------------------------------------


def test_the_directory_lists_the_endpoints_without_a_client_certificate(
    acme_service: Service, directory_url: str
) -> None:
    with acme_service.client(None) as anonymous:
        response = anonymous.get(directory_url)

    assert response.status_code == 200
    base = directory_url.removesuffix("/directory")
    assert response.json() == {
        "newNonce": f"{base}/new-nonce",
        "newAccount": f"{base}/new-account",
        "newOrder": f"{base}/new-order",
        "revokeCert": f"{base}/revoke-cert",
        "keyChange": f"{base}/key-change",
        "meta": {"externalAccountRequired": False},
    }


def test_a_profile_has_its_own_directory(acme_service: Service) -> None:
    with acme_service.client(None) as anonymous:
        server = anonymous.get("/acme/issuing/server/directory")
        unknown = anonymous.get("/acme/issuing/no-such-profile/directory")
        other_ca = anonymous.get("/acme/root/directory")

    assert server.json()["newOrder"].endswith("/acme/issuing/server/new-order")
    assert unknown.status_code == 404
    assert other_ca.status_code == 404
    assert other_ca.headers["content-type"] == "application/problem+json"


def test_new_nonce_answers_head_and_get(acme_service: Service, directory_url: str) -> None:
    url = directory_url.replace("directory", "new-nonce")
    with acme_service.client(None) as anonymous:
        head = anonymous.head(url)
        get = anonymous.get(url)

    assert head.status_code == 200
    assert get.status_code == 204
    assert head.headers["replay-nonce"] != get.headers["replay-nonce"]
    assert head.headers["cache-control"] == "no-store"


# -- issuance with each challenge ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["http-01", "dns-01", "tls-alpn-01"])
def test_each_challenge_type_gets_a_certificate_with_its_chain(
    acme: AcmeTestClient, acme_service: Service, kind: str
) -> None:
    name = _name(kind)

    order, key = acme.obtain([name], kind=kind)

    chain = x509.load_pem_x509_certificates(order.fullchain_pem.encode())
    leaf = chain[0]
    assert order.body.status == messages.STATUS_VALID
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value == (
        x509.SubjectAlternativeName([x509.DNSName(name)])
    )
    assert leaf.public_key() == key.public_key()
    leaf.verify_directly_issued_by(chain[1])
    assert chain[1].subject != chain[1].issuer  # the issuing CA, not the self-signed root
    assert [item["profile"] for item in _issued(acme_service, name)] == ["acme-test"]


def test_a_wildcard_is_proven_with_dns01_only(acme: AcmeTestClient) -> None:
    name = _name("wild")
    csr, _ = csr_for([f"*.{name}"])

    order = acme.acme.new_order(csr)
    (authorization,) = order.authorizations
    acme.prove(order, "dns-01")
    finished = acme.acme.poll_and_finalize(order)

    assert [c.chall.typ for c in authorization.body.challenges] == ["dns-01"]
    assert authorization.body.wildcard is True
    san = _leaf(finished).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == [f"*.{name}"]


def test_the_order_and_finalize_are_audited(acme: AcmeTestClient, acme_service: Service) -> None:
    order, _ = acme.obtain([_name("audit")])
    serial = format(_leaf(order).serial_number, "x")

    with acme_service.client() as api:
        events = api.get("/v1/audit", params={"action": "acme.order.finalize", "target": serial})

    (event,) = events.json()["items"]
    assert event["principal"].startswith("acme:")
    assert event["details"]["ca"] == "issuing"


# -- bad proofs and bad orders: nothing is issued --------------------------------------------


def test_a_wrong_challenge_answer_invalidates_the_order_and_issues_nothing(
    acme: AcmeTestClient, acme_service: Service
) -> None:
    name = _name("wrong")
    csr, _ = csr_for([name])
    order = acme.acme.new_order(csr)
    challenge = next(c for c in order.authorizations[0].body.challenges if c.chall.typ == "http-01")
    acme.servers.http_answers[challenge.chall.encode("token")] = "not the key authorization"

    acme.acme.answer_challenge(challenge, challenge.chall.response(acme.key))
    authorization, _ = acme.acme.poll(order.authorizations[0])
    finalize = acme.signed_post(order.body.finalize, {"csr": jose.encode_b64jose(csr_der(csr))})

    assert authorization.body.status == messages.STATUS_INVALID
    (checked,) = [c for c in authorization.body.challenges if c.chall.typ == "http-01"]
    assert checked.error.typ == PROBLEM + "incorrectResponse"
    _problem(finalize, 403, "orderNotReady")
    assert _issued(acme_service, name) == []


def test_an_unanswered_challenge_is_an_incorrect_response(acme: AcmeTestClient) -> None:
    csr, _ = csr_for([_name("silent")])
    order = acme.acme.new_order(csr)

    acme.prove(order, "dns-01", correctly=False)

    authorization, _ = acme.acme.poll(order.authorizations[0])
    assert authorization.body.status == messages.STATUS_INVALID


def csr_der(pem: bytes) -> bytes:
    return x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize(
    ("identifier", "kind"),
    [
        ({"type": "dns", "value": "evil.example.com"}, "rejectedIdentifier"),
        ({"type": "dns", "value": "not a name.acme.test"}, "rejectedIdentifier"),
        ({"type": "dns", "value": "a.*.acme.test"}, "rejectedIdentifier"),
        ({"type": "ip", "value": "127.0.0.1"}, "unsupportedIdentifier"),
        ({"type": "dns"}, "malformed"),
    ],
    ids=["outside-profile", "not-dns", "inner-wildcard", "ip", "no-value"],
)
def test_identifiers_the_policy_refuses_are_rejected(
    acme: AcmeTestClient, identifier: dict[str, str], kind: str
) -> None:
    response = acme.signed_post(acme.directory.newOrder, {"identifiers": [identifier]})

    _problem(response, 400, kind)


def test_a_csr_naming_other_names_than_the_order_is_bad_and_issues_nothing(
    acme: AcmeTestClient, acme_service: Service
) -> None:
    name, other = _name("csr"), _name("other")
    csr, _ = csr_for([name])
    order = acme.acme.new_order(csr)
    acme.prove(order, "http-01")
    acme.acme.poll(order.authorizations[0])
    wrong_csr, _ = csr_for([name, other])

    response = acme.signed_post(
        order.body.finalize, {"csr": jose.encode_b64jose(csr_der(wrong_csr))}
    )

    _problem(response, 400, "badCSR")
    assert _issued(acme_service, other) == []
    assert _issued(acme_service, name) == []


def test_finalize_with_garbage_for_a_csr_is_bad_csr(acme: AcmeTestClient) -> None:
    csr, _ = csr_for([_name("garbage")])
    order = acme.acme.new_order(csr)
    acme.prove(order, "http-01")
    acme.acme.poll(order.authorizations[0])

    response = acme.signed_post(order.body.finalize, {"csr": jose.encode_b64jose(b"\x30\x03junk")})

    _problem(response, 400, "badCSR")


def test_orders_over_the_hourly_limit_are_rate_limited(acme: AcmeTestClient) -> None:
    payload = {"identifiers": [{"type": "dns", "value": _name("limit")}]}
    for _ in range(ORDERS_PER_HOUR):
        assert acme.signed_post(acme.directory.newOrder, payload).status_code == 201

    response = acme.signed_post(acme.directory.newOrder, payload)

    _problem(response, 429, "rateLimited")
    assert response.headers["retry-after"] == "60"


# -- the JWS envelope ----------------------------------------------------------------------


def test_a_bad_nonce_gets_bad_nonce_and_a_fresh_one(acme: AcmeTestClient) -> None:
    response = acme.signed_post(
        acme.directory.newOrder,
        {"identifiers": [{"type": "dns", "value": _name("nonce")}]},
        nonce=jose.encode_b64jose(b"never-issued-nonce"),
    )

    _problem(response, 400, "badNonce")
    retry = acme.signed_post(
        acme.directory.newOrder,
        {"identifiers": [{"type": "dns", "value": _name("nonce")}]},
        nonce=response.headers["replay-nonce"],
    )
    assert retry.status_code == 201


def test_a_replayed_request_is_refused(acme: AcmeTestClient) -> None:
    body = acme.signed_body(
        acme.directory.newOrder, {"identifiers": [{"type": "dns", "value": _name("replay")}]}
    )

    first = acme.post(acme.directory.newOrder, body)
    again = acme.post(acme.directory.newOrder, body)

    assert first.status_code == 201
    _problem(again, 400, "badNonce")


def test_a_request_signed_by_another_key_than_the_accounts_is_unauthorized(
    acme: AcmeTestClient,
) -> None:
    response = acme.signed_post(
        acme.directory.newOrder,
        {"identifiers": [{"type": "dns", "value": _name("forged")}]},
        key=new_account_key(),
    )

    _problem(response, 403, "unauthorized")


def test_a_jws_for_another_url_is_unauthorized(acme: AcmeTestClient) -> None:
    body = acme.signed_body(acme.directory.newAccount, {"onlyReturnExisting": True}, kid=False)

    response = acme.post(acme.directory.newOrder, body)

    _problem(response, 403, "unauthorized")


def _jws_cases(acme: AcmeTestClient) -> dict[str, tuple[bytes, str, str]]:
    url = acme.directory.newOrder
    good = acme.signed_body(url, {"identifiers": []})
    outer = httpx.Response(200, content=good).json()
    hs256 = jose.JWKOct(key=b"k" * 32)
    cases = {
        "not-json": (b"{nope", "application/jose+json", "malformed"),
        "json-array": (b"[]", "application/jose+json", "malformed"),
        "compact": (b"a.b.c", "application/jose+json", "malformed"),
        "no-signature": (
            httpx.Response(200, json={k: v for k, v in outer.items() if k != "signature"}).content,
            "application/jose+json",
            "malformed",
        ),
        "unprotected-header": (
            httpx.Response(200, json={**outer, "header": {"kid": "x"}}).content,
            "application/jose+json",
            "malformed",
        ),
        "hmac": (
            acme.signed_body(url, {}, key=hs256, alg=jose.HS256),
            "application/jose+json",
            "badSignatureAlgorithm",
        ),
        "wrong-content-type": (good, "application/json", "malformed"),
    }
    return cases


@pytest.mark.parametrize(
    "case",
    [
        "not-json",
        "json-array",
        "compact",
        "no-signature",
        "unprotected-header",
        "hmac",
        "wrong-content-type",
    ],
)
def test_malformed_jws_gets_a_problem_document(acme: AcmeTestClient, case: str) -> None:
    body, content_type, kind = _jws_cases(acme)[case]

    response = acme.post(acme.directory.newOrder, body, content_type=content_type)

    _problem(response, 400, kind)


def test_a_jws_with_both_jwk_and_kid_is_malformed(acme: AcmeTestClient) -> None:
    signed = acme.signed_body(acme.directory.newOrder, {"identifiers": []})
    outer = httpx.Response(200, content=signed).json()
    protected = httpx.Response(200, content=jose.b64decode(outer["protected"])).json()
    protected["jwk"] = acme.key.public_key().to_partial_json()
    outer["protected"] = jose.encode_b64jose(httpx.Response(200, json=protected).content)

    response = acme.post(acme.directory.newOrder, httpx.Response(200, json=outer).content)

    _problem(response, 400, "malformed")


def test_get_on_a_resource_is_malformed(acme: AcmeTestClient) -> None:
    with acme.https() as http:
        response = http.get(acme.account_url)

    _problem(response, 400, "malformed")


# -- accounts --------------------------------------------------------------------------------


def test_an_unknown_key_asking_for_its_account_gets_account_does_not_exist(
    acme: AcmeTestClient,
) -> None:
    response = acme.signed_post(
        acme.directory.newAccount, {"onlyReturnExisting": True}, key=new_account_key(), kid=False
    )

    _problem(response, 400, "accountDoesNotExist")


def test_registering_a_known_key_again_returns_the_account(acme: AcmeTestClient) -> None:
    response = acme.signed_post(
        acme.directory.newAccount, {"termsOfServiceAgreed": True}, kid=False
    )

    assert response.status_code == 200
    assert response.headers["location"] == acme.account_url


def test_a_contact_that_is_not_mailto_is_invalid(acme: AcmeTestClient) -> None:
    response = acme.signed_post(
        acme.directory.newAccount,
        {"termsOfServiceAgreed": True, "contact": ["tel:+123"]},
        key=new_account_key(),
        kid=False,
    )

    _problem(response, 400, "invalidContact")


def test_key_rollover_moves_the_account_to_the_new_key(acme: AcmeTestClient) -> None:
    new_key = new_account_key()
    url = acme.directory["keyChange"]
    inner = acme_jws_inner(acme, url, new_key)

    response = acme.signed_post(url, inner)
    old_key_order = acme.signed_post(
        acme.directory.newOrder, {"identifiers": [{"type": "dns", "value": _name("old")}]}
    )
    new_key_order = acme.signed_post(
        acme.directory.newOrder,
        {"identifiers": [{"type": "dns", "value": _name("new")}]},
        key=new_key,
    )

    assert response.status_code == 200, response.text
    _problem(old_key_order, 403, "unauthorized")
    assert new_key_order.status_code == 201


def acme_jws_inner(acme: AcmeTestClient, url: str, new_key: jose.JWK) -> bytes:
    """The inner JWS of a key change: signed by the new key, no nonce (RFC 8555 7.3.5)."""
    from acme import jws as acme_jws

    payload = {"account": acme.account_url, "oldKey": acme.key.public_key().to_partial_json()}
    signed = acme_jws.JWS.sign(
        httpx.Response(200, json=payload).content, key=new_key, alg=jose.ES256, nonce=None, url=url
    )
    return signed.json_dumps().encode()


def test_a_key_already_in_use_cannot_be_rolled_to(
    acme: AcmeTestClient, directory_url: str, acme_service: Service
) -> None:
    other = AcmeTestClient.register(directory_url, acme_service.ca_certificate, acme.servers)
    url = acme.directory["keyChange"]

    response = acme.signed_post(url, acme_jws_inner(acme, url, other.key))

    _problem(response, 409, "malformed")


def test_a_deactivated_account_can_do_nothing_more(acme: AcmeTestClient) -> None:
    deactivated = acme.signed_post(acme.account_url, {"status": "deactivated"})

    order = acme.signed_post(
        acme.directory.newOrder, {"identifiers": [{"type": "dns", "value": _name("closed")}]}
    )

    assert deactivated.status_code == 200
    assert deactivated.json()["status"] == "deactivated"
    _problem(order, 403, "unauthorized")


def test_another_accounts_order_is_not_found(
    acme: AcmeTestClient, directory_url: str, acme_service: Service
) -> None:
    csr, _ = csr_for([_name("mine")])
    order = acme.acme.new_order(csr)
    stranger = AcmeTestClient.register(directory_url, acme_service.ca_certificate, acme.servers)

    response = stranger.signed_post(order.uri, None)

    _problem(response, 404, "malformed")


# -- revocation ------------------------------------------------------------------------------


def _ocsp_status(service: Service, certificate: x509.Certificate, issuer: x509.Certificate) -> Any:
    from cryptography.hazmat.primitives import hashes

    request = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA256())
    with service.client(None) as anonymous:
        response = anonymous.post(
            "/ocsp/issuing",
            content=request.build().public_bytes(serialization.Encoding.DER),
            headers={"content-type": "application/ocsp-request"},
        )
    return ocsp.load_der_ocsp_response(response.content).certificate_status


def test_the_account_revokes_its_certificate_and_ocsp_says_so(
    acme: AcmeTestClient, acme_service: Service
) -> None:
    order, _ = acme.obtain([_name("revoke")])
    leaf, issuer = x509.load_pem_x509_certificates(order.fullchain_pem.encode())[:2]

    acme.acme.revoke(leaf, 4)
    again = acme.signed_post(
        acme.directory.revokeCert,
        {"certificate": jose.encode_b64jose(leaf.public_bytes(serialization.Encoding.DER))},
    )

    assert _ocsp_status(acme_service, leaf, issuer) is ocsp.OCSPCertStatus.REVOKED
    _problem(again, 400, "alreadyRevoked")


def test_the_certificate_key_revokes_without_the_account(acme: AcmeTestClient) -> None:
    order, key = acme.obtain([_name("keyholder")])
    leaf = _leaf(order)
    certificate_key = jose.JWKEC(key=key)

    response = acme.signed_post(
        acme.directory.revokeCert,
        {"certificate": jose.encode_b64jose(leaf.public_bytes(serialization.Encoding.DER))},
        key=certificate_key,
        kid=False,
    )

    assert response.status_code == 200, response.text


def test_another_account_cannot_revoke(
    acme: AcmeTestClient, directory_url: str, acme_service: Service
) -> None:
    order, _ = acme.obtain([_name("not-yours")])
    stranger = AcmeTestClient.register(directory_url, acme_service.ca_certificate, acme.servers)

    with pytest.raises(acme_errors.Error) as refused:
        stranger.acme.revoke(_leaf(order), 1)

    assert refused.value.typ == PROBLEM + "unauthorized"  # type: ignore[attr-defined]


def test_an_unusable_revocation_reason_is_refused(acme: AcmeTestClient) -> None:
    order, _ = acme.obtain([_name("reason")])
    der = _leaf(order).public_bytes(serialization.Encoding.DER)

    response = acme.signed_post(
        acme.directory.revokeCert, {"certificate": jose.encode_b64jose(der), "reason": 2}
    )

    _problem(response, 400, "badRevocationReason")
