"""Who may call what: every route of the OpenAPI schema, called without and with the wrong grant.

The walk reads ``/openapi.json`` from the running service, so a new route is
covered the day it is added: without a client certificate it must answer 401
``auth.required``, with a principal whose only grant is unrelated (``kds.client``)
403 ``auth.forbidden`` — whether or not the resource named in the path exists.
Only ``/health`` and the public CA material under ``/ca/`` need no certificate.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.server.service import Identity, Service, assert_error

# Routes any principal may call, whatever its grants: asking who you are, random bytes.
SELF_SERVICE = {("get", "/v1/whoami"), ("post", "/v1/kms/random")}
MISSING_KEY = "key-00000000-0000-4000-8000-000000000000"
# Slot paths: the grant is checked before the slot or job is looked up.
SLOT_PATH = {"kind": "server", "label": "matrix", "cert_id": "0" * 16, "job_id": "0" * 32}
PUBLIC_CA_FILES = ("ca.crt", "chain.pem", "crl", "crl.pem")


def csr_pem(common_name: str, *, dns: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def example_field(field: str) -> Any:
    """A valid value for a request field, by its name (new required fields need one here)."""
    unique = uuid.uuid4().hex[:8]
    examples: dict[str, Any] = {
        "ca": "issuing",
        "profile": "client",
        "common_name": f"matrix-{unique}",
        "name": f"matrix-{unique}",
        "subject": f"/CN=Matrix {unique}",
        "csr_pem": csr_pem(f"matrix-{unique}", dns="matrix.example"),
        "grants": [{"permission": "admin"}],
        "reason": "superseded",
        # KMS (a key that exists or not: the grant is checked first either way)
        "spec": "EC_P256",
        "usage": "SIGN_VERIFY",
        "alias": f"alias/matrix-{unique}",
        "key": MISSING_KEY,
        "keys": [MISSING_KEY],
        "destination_key": MISSING_KEY,
        "operations": ["sign"],
        "algorithm": "ECDSA_SHA_256",
        "message": "bWVzc2FnZQ==",
        "signature": "c2lnbmF0dXJl",
        "mac": "bWFj",
        "plaintext": "cGxhaW4=",
        "ciphertext": "Q1dLMQ==",
        "number_of_bytes": 16,
        "items": [{"operation": "sign", "key": MISSING_KEY, "message": "bQ==", "algorithm": "x"}],
        "public_key_pem": "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n",
        "wrapping_algorithm": "RSAES_OAEP_SHA_256",
        "import_token": "token",
        "encrypted_key_material": "AAAA",
        # ACME administration
        "principal": f"matrix-{unique}",
        # certificate slots (the grant is checked before the directory is touched)
        "directory": f"/nonexistent/matrix-{unique}",
        "kind": "server",
        "certificate_pem": "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
        "crl_pem": "-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n",
    }
    assert field in examples, f"no example value for the required request field {field!r}"
    return examples[field]


def request_body(schema: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    """A valid JSON body for ``operation`` (required fields filled), or None if it takes none."""
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    body_schema = content["application/json"]["schema"]
    # An optional body is "anyOf: [{$ref}, {type: null}]"; a required one is the $ref itself.
    reference = next(
        option["$ref"] for option in body_schema.get("anyOf", [body_schema]) if "$ref" in option
    )
    model = schema["components"]["schemas"][reference.rsplit("/", 1)[-1]]
    return {field: example_field(field) for field in model.get("required", [])}


def fill_path(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace(f"{{{name}}}", value)
    assert "{" not in path, f"no value for a parameter of {path}"
    return path


def protected_routes(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every (method, path, operation) of the schema except /health and /ca/*."""
    return [
        (method, path, operation)
        for path, methods in schema["paths"].items()
        if path != "/health" and not path.startswith("/ca/")
        for method, operation in methods.items()
    ]


def call(
    client: httpx.Client,
    schema: dict[str, Any],
    route: tuple[str, str, dict[str, Any]],
    **values: str,
) -> httpx.Response:
    method, path, operation = route
    body = request_body(schema, operation)
    return client.request(method.upper(), fill_path(path, values), json=body)


@pytest.fixture(scope="module")
def schema(service: Service) -> dict[str, Any]:
    with service.client(None) as anonymous:
        response = anonymous.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


@pytest.fixture(scope="module")
def identities(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("identities")


@pytest.fixture(scope="module")
def unrelated(service: Service, identities: Path) -> Identity:
    """A principal whose only grant has nothing to do with the API's routes."""
    return service.create_principal(identities, grants=[{"permission": "kds.client"}])


@pytest.fixture(scope="module")
def path_values(service: Service) -> dict[str, dict[str, str]]:
    """Path parameters naming things that exist, and plausible ones that do not."""
    with service.client() as api:
        serial = api.get("/v1/certificates", params={"limit": 1}).json()["items"][0]["serial"]
        key = api.post("/v1/kms/keys", json={"spec": "EC_P256", "usage": "SIGN_VERIFY"})
    return {
        "existing": {
            "name": "issuing",
            "serial": serial,
            "key_ref": key.json()["key_id"],
            **SLOT_PATH,
        },
        "missing": {
            "name": f"nothing-{uuid.uuid4().hex[:6]}",
            "serial": "7f" + "0" * 30,
            "key_ref": MISSING_KEY,
            **SLOT_PATH,
        },
    }


def test_the_walk_covers_the_whole_api(schema: dict[str, Any]) -> None:
    routes = {(method, path) for method, path, _ in protected_routes(schema)}
    public = set(schema["paths"]) - {path for _, path in routes}

    assert public == {"/health"} | {f"/ca/{{name}}/{name}" for name in PUBLIC_CA_FILES}
    # The web console (/ui) is not part of the API schema: tests/server/console/
    # test_access_matrix.py walks its routes.
    assert not [path for path in schema["paths"] if path.startswith("/ui")]
    assert {
        ("post", "/v1/certificates"),
        ("post", "/v1/certificates/{serial}/revoke"),
        ("post", "/v1/principals"),
        ("get", "/v1/audit"),
        ("get", "/metrics"),
    } <= routes
    assert len(routes) >= 16


@pytest.mark.parametrize("existence", ["existing", "missing"])
def test_every_protected_route_answers_401_without_a_client_certificate(
    service: Service,
    schema: dict[str, Any],
    path_values: dict[str, dict[str, str]],
    existence: str,
) -> None:
    wrong: list[str] = []

    with service.client(None) as anonymous:
        for route in protected_routes(schema):
            response = call(anonymous, schema, route, **path_values[existence])
            try:
                assert_error(response, 401, "auth.required")
            except AssertionError as exc:
                wrong.append(f"{route[0].upper()} {route[1]}: {exc}")

    assert wrong == []


@pytest.mark.parametrize("existence", ["existing", "missing"])
def test_every_protected_route_answers_403_to_a_principal_without_the_grant(
    service: Service,
    schema: dict[str, Any],
    unrelated: Identity,
    path_values: dict[str, dict[str, str]],
    existence: str,
) -> None:
    wrong: list[str] = []

    with service.client(unrelated) as client:
        for route in protected_routes(schema):
            if route[:2] in SELF_SERVICE:
                continue
            response = call(client, schema, route, **path_values[existence])
            try:
                assert_error(response, 403, "auth.forbidden")
            except AssertionError as exc:
                wrong.append(f"{route[0].upper()} {route[1]}: {exc}")

    assert wrong == []


def test_whoami_answers_any_principal_with_its_own_grants(
    service: Service, unrelated: Identity
) -> None:
    with service.client(unrelated) as client:
        response = client.get("/v1/whoami")

    assert response.status_code == 200
    assert response.json()["name"] == unrelated.name
    assert [grant["permission"] for grant in response.json()["grants"]] == ["kds.client"]


@pytest.mark.parametrize("ca", ["root", "issuing"])
def test_health_and_public_ca_material_need_no_client_certificate(
    service: Service, ca: str
) -> None:
    with service.client(None) as anonymous:
        health = anonymous.get("/health")
        files = {name: anonymous.get(f"/ca/{ca}/{name}") for name in PUBLIC_CA_FILES}

    assert (health.status_code, health.json()) == (200, {"status": "healthy"})
    assert {name: r.status_code for name, r in files.items()} == dict.fromkeys(files, 200)
    certificate = x509.load_pem_x509_certificate(files["ca.crt"].content)
    chain = x509.load_pem_x509_certificates(files["chain.pem"].content)
    crl = x509.load_der_x509_crl(files["crl"].content)
    assert x509.load_pem_x509_crl(files["crl.pem"].content) == crl
    assert chain[0] == certificate
    assert len(chain) == (1 if ca == "root" else 2)
    assert crl.issuer == certificate.subject
    assert files["crl"].headers["content-type"] == "application/pkix-crl"


# -- privilege escalation ---------------------------------------------------------


@pytest.fixture(scope="module")
def other_ca(service: Service) -> str:
    """A second issuing CA under the root."""
    name = f"other-{uuid.uuid4().hex[:6]}"
    with service.client() as api:
        response = api.post(
            "/v1/cas", json={"name": name, "subject": f"/CN={name}", "parent": "root"}
        )
    assert response.status_code == 201, response.text
    return name


@pytest.fixture(scope="module")
def client_issuer(service: Service, identities: Path) -> Identity:
    """A principal that may issue client certificates from the CA ``issuing`` only."""
    return service.create_principal(
        identities,
        grants=[{"permission": "ca.issue", "resources": ["issuing"], "profiles": ["client"]}],
    )


@pytest.fixture
def as_client_issuer(service: Service, client_issuer: Identity) -> Iterator[httpx.Client]:
    with service.client(client_issuer) as client:
        yield client


def test_limited_issuer_issues_client_certificates_from_its_ca(
    as_client_issuer: httpx.Client,
) -> None:
    response = as_client_issuer.post(
        "/v1/certificates",
        json={"ca": "issuing", "profile": "client", "common_name": "allowed"},
    )

    assert response.status_code == 201, response.text
    assert (response.json()["ca"], response.json()["profile"]) == ("issuing", "client")


ESCALATIONS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "issue from another CA": (
        "post",
        "/v1/certificates",
        {"ca": "{other}", "profile": "client", "common_name": "escalate"},
    ),
    "issue with the server profile": (
        "post",
        "/v1/certificates",
        {"ca": "issuing", "profile": "server", "common_name": "escalate.example"},
    ),
    "sign a CSR with the server profile": (
        "post",
        "/v1/certificates/sign",
        {"ca": "issuing", "profile": "server", "csr_pem": "{csr}"},
    ),
    "sign a CSR from another CA": (
        "post",
        "/v1/certificates/sign",
        {"ca": "{other}", "profile": "client", "csr_pem": "{csr}"},
    ),
    "create an admin principal": (
        "post",
        "/v1/principals",
        {"name": "escalated", "grants": [{"permission": "admin"}]},
    ),
    "disable the admin": ("post", "/v1/principals/admin/disable", None),
    "create a CA": ("post", "/v1/cas", {"name": "escalated", "subject": "/CN=escalated"}),
    "publish a CRL": ("post", "/v1/cas/issuing/crl", {}),
    "read the audit log": ("get", "/v1/audit", None),
    "list principals": ("get", "/v1/principals", None),
}


@pytest.mark.parametrize("attempt", list(ESCALATIONS))
def test_limited_issuer_cannot_go_beyond_its_grant(
    service: Service, as_client_issuer: httpx.Client, other_ca: str, attempt: str
) -> None:
    method, path, template = ESCALATIONS[attempt]
    values = {"{other}": other_ca, "{csr}": csr_pem("escalate", dns="escalate.example")}
    body = (
        {
            key: values.get(value, value) if isinstance(value, str) else value
            for key, value in template.items()
        }
        if template is not None
        else None
    )
    with service.client() as api:
        before = api.get("/v1/certificates", params={"limit": 1000}).json()["items"]

    response = as_client_issuer.request(method.upper(), path, json=body)

    assert_error(response, 403, "auth.forbidden")
    with service.client() as api:
        after = api.get("/v1/certificates", params={"limit": 1000}).json()["items"]
        assert api.get("/v1/principals/escalated").status_code == 404
        assert api.get("/v1/cas/escalated").status_code == 404
        assert api.get("/v1/whoami").status_code == 200
    assert after == before


def test_revoking_needs_ca_revoke_even_for_certificates_the_principal_issued(
    as_client_issuer: httpx.Client,
) -> None:
    issued = as_client_issuer.post(
        "/v1/certificates", json={"ca": "issuing", "profile": "client", "common_name": "mine"}
    ).json()

    response = as_client_issuer.post(f"/v1/certificates/{issued['serial']}/revoke", json={})

    assert_error(response, 403, "auth.forbidden")


def test_disabled_principal_is_refused_even_on_a_connection_opened_before(
    service: Service, tmp_path: Path
) -> None:
    principal = service.create_principal(tmp_path, grants=[{"permission": "admin"}])
    with service.client(principal) as client:
        assert client.get("/v1/whoami").status_code == 200

        with service.client() as api:
            assert api.post(f"/v1/principals/{principal.name}/disable").status_code == 200
        on_open_connection = client.get("/v1/certificates")

    error = assert_error(on_open_connection, 403, "auth.forbidden")
    assert "disabled" in error["message"]
    refusal = service.fresh_request(principal)
    assert not isinstance(refusal, int) and refusal.certificate_revoked
