"""Redfish CertificateService over real mutual TLS: collections, actions, errors, a DMTF client.

One service for the module (``slot_service``): server/https behind a real TLS
server that reloads on SIGHUP, client/ldap, authority/truststore. Every test
leaves the client and truststore slots empty again.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509

from tests.certs.factory import TestCA
from tests.server.service import Service, poll_until
from tests.server.slot_service import SlotService, slot_service

HTTPS = "/redfish/v1/Managers/bmc/NetworkProtocol/HTTPS/Certificates"
LDAP = "/redfish/v1/AccountService/LDAP/Certificates"
TRUSTSTORE = "/redfish/v1/Managers/bmc/Truststore/Certificates"
SERVICE = "/redfish/v1/CertificateService"
GENERATE_CSR = f"{SERVICE}/Actions/CertificateService.GenerateCSR"
REPLACE = f"{SERVICE}/Actions/CertificateService.ReplaceCertificate"


@pytest.fixture(scope="module")
def slots(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlotService]:
    with slot_service(tmp_path_factory.mktemp("redfish")) as running:
        yield running


@pytest.fixture(scope="module")
def api(slots: SlotService) -> Iterator[httpx.Client]:
    with slots.service.client() as client:
        yield client


@pytest.fixture(scope="module")
def ca() -> TestCA:
    return TestCA("Redfish Test Root")


def assert_redfish_error(response: httpx.Response, status: int, message_id: str) -> dict[str, Any]:
    """The Redfish error shape: code = the first message's id, ExtendedInfo with messages."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "@Message.ExtendedInfo"}, error
    assert error["code"] == f"Base.1.13.0.{message_id}", error
    info = error["@Message.ExtendedInfo"]
    assert info and info[0]["MessageId"] == error["code"]
    assert info[0]["Message"] == error["message"]
    assert {"MessageArgs", "MessageSeverity", "Resolution"} <= set(info[0])
    assert "Traceback" not in response.text
    return dict(info[0])


def members(api: httpx.Client, collection: str) -> list[str]:
    response = api.get(collection)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["Members@odata.count"] == len(body["Members"])
    return [member["@odata.id"] for member in body["Members"]]


def install(api: httpx.Client, collection: str, pem: bytes) -> httpx.Response:
    return api.post(collection, json={"CertificateString": pem.decode(), "CertificateType": "PEM"})


def served_certificate(port: int) -> x509.Certificate:
    """What the TLS service behind server/https presents, as openssl s_client sees it."""
    result = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost"],
        input="",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert "BEGIN CERTIFICATE" in result.stdout, result.stdout + result.stderr
    return x509.load_pem_x509_certificate(result.stdout.encode())


# -- the service root and the CertificateService ----------------------------------------------


def test_service_root_links_the_certificate_service(api: httpx.Client) -> None:
    root = api.get("/redfish/v1").json()
    service = api.get(root["CertificateService"]["@odata.id"]).json()

    assert root["@odata.id"] == "/redfish/v1"
    assert service["@odata.type"].startswith("#CertificateService.")
    actions = service["Actions"]
    assert actions["#CertificateService.GenerateCSR"]["target"] == GENERATE_CSR
    assert actions["#CertificateService.ReplaceCertificate"]["target"] == REPLACE
    assert actions["#CertificateService.ReplaceCertificate"][
        "CertificateType@Redfish.AllowableValues"
    ] == ["PEM"]
    locations = api.get(service["CertificateLocations"]["@odata.id"])
    assert locations.status_code == 200
    assert "Certificates" in locations.json()["Links"]


def test_trailing_slash_is_the_same_resource(api: httpx.Client) -> None:
    assert api.get("/redfish/v1/").json() == api.get("/redfish/v1").json()
    assert api.get(LDAP + "/").json() == api.get(LDAP).json()


# -- install, replace, delete on each slot kind -----------------------------------------------


@pytest.mark.parametrize("collection", [LDAP, TRUSTSTORE], ids=["client", "authority"])
def test_install_replace_delete(
    api: httpx.Client, slots: SlotService, ca: TestCA, collection: str
) -> None:
    authority = collection == TRUSTSTORE
    first = TestCA("Truststore CA one") if authority else ca.issue("ldap.example.test", client=True)
    second = (
        TestCA("Truststore CA two") if authority else ca.issue("ldap2.example.test", client=True)
    )
    first_pem = first.cert_pem if authority else first.bundle_pem  # type: ignore[union-attr]
    second_pem = second.cert_pem if authority else second.bundle_pem  # type: ignore[union-attr]

    installed = install(api, collection, first_pem)
    assert installed.status_code == 201, installed.text
    uri = installed.headers["location"]
    assert members(api, collection) == [uri]
    resource = api.get(uri).json()
    expected_cn = "Truststore CA one" if authority else "ldap.example.test"
    assert resource["Subject"]["CommonName"] == expected_cn
    assert resource["Issuer"]["CommonName"] == (expected_cn if authority else "Redfish Test Root")
    assert resource["CertificateType"] == "PEM"
    assert resource["ValidNotBefore"] < resource["ValidNotAfter"]
    assert ("KeyCertSign" if authority else "ClientAuthentication") in resource["KeyUsage"]
    locations = api.get(f"{SERVICE}/CertificateLocations").json()["Links"]["Certificates"]
    assert {"@odata.id": uri} in locations

    replaced = api.post(
        REPLACE,
        json={
            "CertificateString": second_pem.decode(),
            "CertificateType": "PEM",
            "CertificateUri": {"@odata.id": uri},
        },
    )
    assert replaced.status_code == 200, replaced.text
    new_uri = replaced.json()["@odata.id"]
    assert members(api, collection) == [new_uri]
    expected = "Truststore CA two" if authority else "ldap2.example.test"
    assert api.get(new_uri).json()["Subject"]["CommonName"] == expected

    deleted = api.delete(new_uri)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert members(api, collection) == []
    assert_redfish_error(api.get(new_uri), 404, "ResourceNotFound")


def test_server_slot_replace_then_delete_falls_back_to_self_signed(
    api: httpx.Client, slots: SlotService, ca: TestCA
) -> None:
    if not members(api, HTTPS):
        assert install(api, HTTPS, ca.issue("localhost").bundle_pem).status_code == 201
    [uri] = members(api, HTTPS)
    second = install(api, HTTPS, ca.issue("localhost").bundle_pem)
    info = assert_redfish_error(second, 400, "GeneralError")
    assert info["Oem"]["Certward"]["Code"] == "slot.not_allowed"
    leaf = ca.issue("localhost")

    replaced = api.post(
        REPLACE,
        json={"CertificateString": leaf.bundle_pem.decode(), "CertificateUri": {"@odata.id": uri}},
    )
    assert replaced.status_code == 200, replaced.text
    served = poll_until(
        lambda: served_certificate(slots.tls_port).serial_number == leaf.certificate.serial_number,
        within=30,
    )
    assert served, "the TLS service did not pick up the replaced certificate"

    deleted = api.delete(replaced.json()["@odata.id"])
    assert deleted.status_code == 204
    [fallback] = members(api, HTTPS)
    resource = api.get(fallback).json()
    assert resource["Subject"]["CommonName"] == "bmc.example.test"
    assert resource["Issuer"] == resource["Subject"]


# -- CSR: generated through Redfish, signed by certward's CA, installed with the stored key --


def _csr_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "CertificateCollection": {"@odata.id": HTTPS},
        "City": "Hyderabad",
        "CommonName": "localhost",
        "Country": "IN",
        "Organization": "ABCD",
        "OrganizationalUnit": "XY",
        "State": "TS",
        "AlternativeNames": ["localhost", "127.0.0.1"],
        "KeyPairAlgorithm": "EC",
        "KeyCurveId": "secp384r1",
        "KeyUsage": ["DigitalSignature", "ServerAuthentication"],
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def test_csr_signed_by_certward_ca_is_installed_with_its_stored_key_and_served(
    api: httpx.Client, slots: SlotService, tmp_path: Path
) -> None:
    answer = api.post(GENERATE_CSR, json=_csr_body())
    assert answer.status_code == 200, answer.text
    csr_pem = answer.json()["CSRString"]
    assert answer.json()["CertificateCollection"] == {"@odata.id": HTTPS}
    (tmp_path / "bmc.csr").write_text(csr_pem)
    verified = subprocess.run(
        ["openssl", "req", "-in", str(tmp_path / "bmc.csr"), "-noout", "-verify", "-subject"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stderr
    assert "CN = localhost" in verified.stdout
    signed = api.post(
        "/v1/certificates/sign", json={"ca": "issuing", "profile": "server", "csr_pem": csr_pem}
    )
    assert signed.status_code == 201, signed.text
    chain = signed.json()["chain_pem"]  # no key: the slot pairs it with the CSR's key

    current = members(api, HTTPS)
    if current:
        installed = api.post(
            REPLACE,
            json={
                "CertificateString": chain,
                "CertificateType": "PEM",
                "CertificateUri": {"@odata.id": current[0]},
            },
        )
        assert installed.status_code == 200, installed.text
    else:
        installed = install(api, HTTPS, chain.encode())
        assert installed.status_code == 201, installed.text

    serial = int(signed.json()["serial"], 16)
    assert poll_until(lambda: served_certificate(slots.tls_port).serial_number == serial, within=30)
    key_file = slots.slot_dir("https") / "key.pem"
    assert key_file.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("overrides", "message_id", "field"),
    [
        ({"City": None}, "ActionParameterMissing", "City"),
        ({"CommonName": ""}, "ActionParameterMissing", "CommonName"),
        ({"OrganizationalUnit": None}, "ActionParameterMissing", "OrganizationalUnit"),
        ({"Country": "IND"}, "ActionParameterValueError", "Country"),
        ({"KeyCurveId": "secp521r1"}, "ActionParameterValueError", "KeyCurveId"),
        (
            {"KeyPairAlgorithm": "RSA", "KeyBitLength": 1024, "KeyCurveId": None},
            "ActionParameterValueError",
            "KeyBitLength",
        ),
        ({"KeyPairAlgorithm": "DSA"}, "ActionParameterValueError", "KeyPairAlgorithm"),
        ({"KeyUsage": ["Everything"]}, "ActionParameterValueError", "KeyUsage"),
        ({"CertificateCollection": None}, "ActionParameterMissing", "CertificateCollection"),
        ({"Favourite": "tea"}, "ActionParameterNotSupported", "Favourite"),
    ],
)
def test_generate_csr_refuses_bad_fields_naming_them(
    api: httpx.Client, overrides: dict[str, Any], message_id: str, field: str
) -> None:
    body = _csr_body(**{k: v for k, v in overrides.items() if v is not None})
    for name, value in overrides.items():
        if value is None:
            body.pop(name, None)

    info = assert_redfish_error(api.post(GENERATE_CSR, json=body), 400, message_id)

    assert field in info["MessageArgs"]


def test_generate_csr_for_the_truststore_is_refused(api: httpx.Client) -> None:
    body = _csr_body(CertificateCollection={"@odata.id": TRUSTSTORE})

    info = assert_redfish_error(api.post(GENERATE_CSR, json=body), 400, "ActionParameterValueError")

    assert "CertificateCollection" in info["MessageArgs"]


# -- bad certificates, unknown things, methods that do not apply ------------------------------


def _directory(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir())} if path.exists() else {}


@pytest.mark.parametrize("case", ["empty", "garbage", "key mismatch", "no key"])
def test_bad_upload_is_400_and_changes_nothing(
    api: httpx.Client, slots: SlotService, ca: TestCA, case: str
) -> None:
    leaf = ca.issue("ldap.example.test", client=True)
    other = ca.issue("other.example.test", client=True)
    pem = {
        "empty": b"",
        "garbage": b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
        "key mismatch": leaf.chain_pem + other.key_pem,
        "no key": leaf.chain_pem,
    }[case]
    before = _directory(slots.slot_dir("ldap"))

    response = install(api, LDAP, pem)

    if case == "empty":
        assert_redfish_error(response, 400, "PropertyMissing")
    else:
        info = assert_redfish_error(response, 400, "GeneralError")
        assert info["Oem"]["Certward"]["Code"].startswith("certificate.")
    assert _directory(slots.slot_dir("ldap")) == before
    assert members(api, LDAP) == []


def test_replace_with_a_certificate_type_other_than_pem_is_refused(api: httpx.Client) -> None:
    response = api.post(
        REPLACE,
        json={
            "CertificateString": "x",
            "CertificateType": "PKCS7",
            "CertificateUri": {"@odata.id": f"{LDAP}/0"},
        },
    )

    info = assert_redfish_error(response, 400, "ActionParameterValueError")
    assert "CertificateType" in info["MessageArgs"]


def test_unknown_uri_and_unknown_certificate_are_404(api: httpx.Client) -> None:
    assert_redfish_error(api.get("/redfish/v1/Systems"), 404, "ResourceMissingAtURI")
    assert_redfish_error(api.get(f"{LDAP}/0123456789abcdef"), 404, "ResourceNotFound")
    assert_redfish_error(api.delete(f"{TRUSTSTORE}/0123456789abcdef"), 404, "ResourceNotFound")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PATCH", LDAP, "GET, POST"),
        ("DELETE", HTTPS, "GET, POST"),
        ("PUT", f"{LDAP}/0123456789abcdef", "DELETE, GET"),
        ("POST", f"{TRUSTSTORE}/0123456789abcdef", "DELETE, GET"),
        ("PUT", SERVICE, "GET"),
        ("GET", GENERATE_CSR, "POST"),
        ("DELETE", REPLACE, "POST"),
        ("POST", "/redfish/v1", "GET"),
    ],
)
def test_methods_that_do_not_apply_are_405(
    api: httpx.Client, method: str, path: str, allow: str
) -> None:
    response = api.request(method, path, json={} if method in ("POST", "PUT", "PATCH") else None)

    assert_redfish_error(response, 405, "OperationNotAllowed")
    assert response.headers["allow"] == allow


# -- access control ---------------------------------------------------------------------------


def test_without_a_grant_on_the_slot_the_answer_is_403(
    slots: SlotService, ca: TestCA, tmp_path: Path
) -> None:
    service: Service = slots.service
    ldap_only = service.create_principal(
        tmp_path, grants=[{"permission": "certs.manage", "resources": ["client/ldap"]}]
    )
    with service.client(ldap_only) as client:
        assert client.get(LDAP).status_code == 200
        assert_redfish_error(client.get(HTTPS), 403, "InsufficientPrivilege")
        refused = install(client, TRUSTSTORE, TestCA("Not allowed").cert_pem)
        assert_redfish_error(refused, 403, "InsufficientPrivilege")
        body = _csr_body()
        assert_redfish_error(client.post(GENERATE_CSR, json=body), 403, "InsufficientPrivilege")
    with service.client(None) as anonymous:
        assert_redfish_error(anonymous.get("/redfish/v1"), 401, "NoValidSession")


# -- a real Redfish client --------------------------------------------------------------------


def test_dmtf_redfish_client_installs_lists_and_deletes(slots: SlotService, ca: TestCA) -> None:
    import redfish

    service = slots.service
    admin = service.admin
    client = redfish.redfish_client(
        base_url=service.url, cafile=str(service.ca_certificate), check_connectivity=False
    )
    client._session.cert = (str(admin.certificate), str(admin.key))
    client.get_root_object()
    assert client.root["CertificateService"]["@odata.id"] == SERVICE

    store = client.get(SERVICE).dict["Actions"]
    assert "#CertificateService.GenerateCSR" in store
    trusted = TestCA("DMTF client CA")
    created = client.post(
        TRUSTSTORE, body={"CertificateString": trusted.cert_pem.decode(), "CertificateType": "PEM"}
    )
    assert created.status == 201, created.text
    uri = created.getheader("Location")
    listing = client.get(TRUSTSTORE).dict
    assert {"@odata.id": uri} in listing["Members"]
    assert client.get(uri).dict["Subject"]["CommonName"] == "DMTF client CA"
    assert client.delete(uri).status == 204
    gone = client.get(uri)
    assert gone.status == 404
    assert gone.dict["error"]["code"].endswith("ResourceNotFound")


def test_an_install_retried_with_its_idempotency_key_is_answered_not_repeated(
    api: httpx.Client,
) -> None:
    trusted = TestCA("Retried truststore CA")
    body = {"CertificateString": trusted.cert_pem.decode(), "CertificateType": "PEM"}
    headers = {"idempotency-key": f"redfish-{uuid.uuid4().hex}"}

    first = api.post(TRUSTSTORE, json=body, headers=headers)
    again = api.post(TRUSTSTORE, json=body, headers=headers)
    plain = api.post(TRUSTSTORE, json=body)

    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert plain.status_code == 400  # a duplicate authority: the retry above was not one
    members = api.get(TRUSTSTORE).json()["Members"]
    assert members.count({"@odata.id": first.headers["location"]}) == 1
    assert api.delete(first.headers["location"]).status_code == 204
