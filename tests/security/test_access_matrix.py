"""The access-control matrix: every route x every role, allowed or denied, from one table.

``MATRIX`` has one row per route: the request to send (path values, query, body)
and the roles allowed to make it. Every other role must be refused: 401
``auth.required`` without a certificate, 403 ``auth.forbidden`` for a principal
without the grant or a disabled one, and a failed handshake ("certificate
revoked") for a principal whose certificate was revoked. "Allowed" means the
grant check let the request through: any answer but 401/403, and never a 5xx.

The routes come from the running service's ``/openapi.json``: a route the table
does not know fails :func:`test_every_route_of_the_api_is_in_the_matrix`, so a new
route needs one row here (the lead adds them for slots, jobs, events and Redfish
as they land). Escalation attempts (a principal making a principal, an access
point using another key, an issuer picking another CA or profile) are below.

The web console (``/ui``, HTML pages and form posts) is a separate app outside the
schema; its routes are walked by tests/server/console/test_access_matrix.py, with the
same principals and the same refusals rendered as HTML pages.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.server.service import Identity, Service, assert_error
from tests.server.test_access_matrix import csr_pem

# -- roles -------------------------------------------------------------------------

ROLE_GRANTS: dict[str, list[dict[str, Any]]] = {
    "issuer": [{"permission": "ca.issue", "resources": ["issuing"], "profiles": ["client"]}],
    "revoker": [{"permission": "ca.revoke", "resources": ["issuing"]}],
    "reader": [{"permission": "ca.read", "resources": ["issuing"]}],
    "slot_manager": [{"permission": "certs.manage"}],
    "kds_client": [{"permission": "kds.client"}],
    "auditor": [{"permission": "audit.read"}, {"permission": "metrics.read"}],
    "kms_manager": [{"permission": "kms.manage", "resources": ["alias/matrix-k"]}],
}
# Made through POST /v1/kms/access-points: kms.use on key K for sign and verify only.
ACCESS_POINT_OPERATIONS = ["sign", "verify"]
PRINCIPALS = ("admin", *ROLE_GRANTS, "access_point")
# Refused whatever the route: a disabled principal and a principal whose certificate was
# revoked, each on a keep-alive connection opened before (403) and on a new one (the
# handshake fails: its certificate is on the CRL), and no certificate at all (401).
REFUSED = ("disabled", "disabled-new", "revoked", "revoked-new", "none")
OPENED_BEFORE = ("disabled", "revoked")
EVERYONE = frozenset(PRINCIPALS)
PUBLIC = frozenset((*PRINCIPALS, "disabled", "revoked", "none"))  # *-new: handshakes fail


@dataclass(frozen=True)
class Row:
    """One route: how to call it, and who may."""

    method: str
    path: str
    allowed: frozenset[str]
    body: dict[str, Any] | None = None
    query: dict[str, str] = field(default_factory=dict)
    stream: bool = False  # an event stream: only the status is read


def row(
    method: str, path: str, *allowed: str, body: Any = None, stream: bool = False, **query: str
) -> Row:
    who = frozenset(allowed) | {"admin"}
    return Row(method, path, who, body, query, stream)


K = "alias/matrix-k"  # an EC P-256 SIGN_VERIFY key; the access point may sign/verify with it
M = "alias/matrix-m"  # an HMAC key, and E an AES key, for the other operations
E = "alias/matrix-e"
CIPHERTEXT = "{ciphertext}"  # filled with a real ciphertext of E
B64 = base64.b64encode(b"matrix").decode()
# What a Redfish GenerateCSR needs besides the common name.
CSR_FIELDS = {
    "city": "Berlin",
    "country": "DE",
    "state": "Berlin",
    "organization": "certward",
    "organizational_unit": "tests",
}

MATRIX: tuple[Row, ...] = (
    # public and service routes
    Row("GET", "/health", PUBLIC),
    Row("GET", "/ca/{name}/ca.crt", PUBLIC),
    Row("GET", "/ca/{name}/chain.pem", PUBLIC),
    Row("GET", "/ca/{name}/crl", PUBLIC),
    Row("GET", "/ca/{name}/crl.pem", PUBLIC),
    row("GET", "/metrics", "auditor"),
    row("GET", "/v1/whoami", *EVERYONE),
    # CAs and certificates
    row("GET", "/v1/cas", "reader"),
    row("POST", "/v1/cas", body={"name": "{unique}", "subject": "/CN={unique}", "parent": "root"}),
    row("GET", "/v1/cas/{name}", "reader"),
    row("POST", "/v1/cas/{name}/crl", "revoker", body={}),
    row(
        "POST",
        "/v1/certificates",
        "issuer",
        body={"ca": "issuing", "profile": "client", "common_name": "{unique}"},
    ),
    row("GET", "/v1/certificates", "reader", ca="issuing"),
    row(
        "POST",
        "/v1/certificates/sign",
        "issuer",
        body={"ca": "issuing", "profile": "client", "csr_pem": "{csr}"},
    ),
    row("GET", "/v1/certificates/{serial}", "reader"),
    row("POST", "/v1/certificates/{serial}/revoke", "revoker", body={"reason": "superseded"}),
    # principals and audit
    row("GET", "/v1/principals"),
    row("POST", "/v1/principals", body={"name": "{unique}", "grants": [{"permission": "admin"}]}),
    row("GET", "/v1/principals/{principal}"),
    row("POST", "/v1/principals/{principal}/disable"),
    row("GET", "/v1/audit", "auditor"),
    row("POST", "/v1/acme/eab-keys", body={"principal": "{victim}"}),
    # KMS: use
    row(
        "POST",
        "/v1/kms/keys/{key_ref}/sign",
        "access_point",
        body={"message": B64, "algorithm": "ECDSA_SHA_256"},
    ),
    row(
        "POST",
        "/v1/kms/keys/{key_ref}/verify",
        "access_point",
        body={"message": B64, "algorithm": "ECDSA_SHA_256", "signature": B64},
    ),
    row("POST", "/v1/kms/keys/{aes_ref}/encrypt", body={"plaintext": B64}),
    row("POST", "/v1/kms/decrypt", body={"ciphertext": CIPHERTEXT}),
    row("POST", "/v1/kms/keys/{aes_ref}/decrypt", body={"ciphertext": CIPHERTEXT}),
    row("POST", "/v1/kms/keys/{aes_ref}/generate-data-key", body={}),
    row("POST", "/v1/kms/re-encrypt", body={"ciphertext": CIPHERTEXT, "destination_key": E}),
    row(
        "POST",
        "/v1/kms/keys/{mac_ref}/generate-mac",
        body={"message": B64, "algorithm": "HMAC_SHA_256"},
    ),
    row(
        "POST",
        "/v1/kms/keys/{mac_ref}/verify-mac",
        body={"message": B64, "algorithm": "HMAC_SHA_256", "mac": B64},
    ),
    row("POST", "/v1/kms/random", *EVERYONE, body={"number_of_bytes": 16}),
    row(
        "POST",
        "/v1/kms/batch",
        "access_point",
        body={
            "items": [{"operation": "sign", "key": K, "message": B64, "algorithm": "ECDSA_SHA_256"}]
        },
    ),
    # KMS: administration (kms_manager holds kms.manage on K only)
    row("POST", "/v1/kms/keys", body={"spec": "EC_P256", "usage": "SIGN_VERIFY"}),
    row("GET", "/v1/kms/keys"),
    row("POST", "/v1/kms/keys/import-public", body={"public_key_pem": "{public_key_pem}"}),
    row("GET", "/v1/kms/keys/{key_ref}/usage", "auditor", "kms_manager"),
    row("GET", "/v1/kms/keys/{key_ref}/public-key"),
    row("GET", "/v1/kms/keys/{key_ref}", "kms_manager"),
    row("POST", "/v1/kms/keys/{key_ref}/rotate", "kms_manager"),
    row("POST", "/v1/kms/keys/{victim_key}/disable"),
    row("POST", "/v1/kms/keys/{victim_key}/enable"),
    row("POST", "/v1/kms/keys/{victim_key}/schedule-deletion", body={"pending_window_days": 7}),
    row("POST", "/v1/kms/keys/{victim_key}/cancel-deletion"),
    row("POST", "/v1/kms/keys/{key_ref}/settings", "kms_manager", body={"description": "m"}),
    row(
        "POST",
        "/v1/kms/keys/{key_ref}/import-parameters",
        "kms_manager",
        body={"wrapping_algorithm": "RSAES_OAEP_SHA_256"},
    ),
    row(
        "POST",
        "/v1/kms/keys/{key_ref}/import",
        "kms_manager",
        body={"import_token": "t", "encrypted_key_material": B64},
    ),
    row("POST", "/v1/kms/aliases", body={"alias": "alias/{unique}", "key": K}),
    row("DELETE", "/v1/kms/aliases/{victim_alias}"),
    row(
        "POST",
        "/v1/kms/access-points",
        body={"name": "{unique}", "keys": [K], "operations": ["sign"]},
    ),
    # certificate slots (slot_manager holds certs.manage on every slot), CSR jobs, events
    row("GET", "/v1/slots", "slot_manager"),
    row("POST", "/v1/slots", body={"name": "server/{unique}", "directory": "{slots}/{unique}"}),
    row("GET", "/v1/slots/{kind}/{label}", "slot_manager"),
    row("DELETE", "/v1/slots/{kind}/{victim_slot}"),
    row("GET", "/v1/slots/{kind}/{label}/certificates", "slot_manager"),
    row(
        "POST",
        "/v1/slots/{kind}/{label}/certificates",
        "slot_manager",
        body={"certificate_pem": "{slot_certificate}", "key_pem": "{slot_key}"},
    ),
    row("GET", "/v1/slots/{kind}/{label}/certificates/{cert_id}", "slot_manager"),
    row(
        "PUT",
        "/v1/slots/{kind}/{label}/certificates/{cert_id}",
        "slot_manager",
        body={"certificate_pem": "{slot_certificate}", "key_pem": "{slot_key}"},
    ),
    row("DELETE", "/v1/slots/{kind}/{label}/certificates/{cert_id}", "slot_manager"),
    row("GET", "/v1/slots/{kind}/{label}/crl", "slot_manager"),
    row("POST", "/v1/slots/{kind}/{label}/crl", "slot_manager", body={"crl_pem": "{crl_pem}"}),
    row(
        "POST",
        "/v1/slots/{kind}/{label}/csr",
        "slot_manager",
        body={**CSR_FIELDS, "common_name": "{unique}"},
    ),
    row("GET", "/v1/jobs/{job_id}", "slot_manager"),
    row("GET", "/v1/events", "slot_manager", stream=True),
)


# -- the world the matrix runs in ---------------------------------------------------


@dataclass
class World:
    service: Service
    identities: dict[str, Identity | None]
    values: dict[str, str]
    opened: dict[str, httpx.Client]  # keep-alive connections made before disable/revoke


def _access_point(service: Service, directory: Path, key: str) -> Identity:
    name = f"ap-{uuid.uuid4().hex[:8]}"
    with service.client() as api:
        response = api.post(
            "/v1/kms/access-points",
            json={"name": name, "keys": [key], "operations": ACCESS_POINT_OPERATIONS},
        )
    assert response.status_code == 201, response.text
    body = response.json()
    key_object, certificate, extra = pkcs12.load_key_and_certificates(
        base64.b64decode(body["client_key"]["PrivateKeyData"]), body["password"].encode()
    )
    assert key_object is not None and certificate is not None
    directory.mkdir(parents=True, exist_ok=True)
    certificate_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    pem = serialization.Encoding.PEM
    certificate_path.write_bytes(
        certificate.public_bytes(pem) + b"".join(c.public_bytes(pem) for c in extra)
    )
    key_path.write_bytes(
        key_object.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return Identity(name, certificate_path, key_path, format(certificate.serial_number, "x"))


def _key(api: httpx.Client, spec: str, usage: str, alias: str) -> str:
    response = api.post("/v1/kms/keys", json={"spec": spec, "usage": usage, "alias": alias})
    assert response.status_code == 201, response.text
    key_id: str = response.json()["key_id"]
    return key_id


@pytest.fixture(scope="module")
def world(service: Service, tmp_path_factory: pytest.TempPathFactory) -> World:
    directory = tmp_path_factory.mktemp("matrix")
    with service.client() as api:
        key_k = _key(api, "EC_P256", "SIGN_VERIFY", K)
        _key(api, "HMAC_256", "GENERATE_VERIFY_MAC", M)
        _key(api, "AES_256", "ENCRYPT_DECRYPT", E)
        victim_key = _key(api, "EC_P256", "SIGN_VERIFY", f"alias/victim-{uuid.uuid4().hex[:6]}")
        victim_alias = f"alias/victim-{uuid.uuid4().hex[:6]}"
        assert api.post("/v1/kms/aliases", json={"alias": victim_alias, "key": key_k}).is_success
        encrypted = api.post(f"/v1/kms/keys/{E}/encrypt", json={"plaintext": B64})
        assert encrypted.status_code == 200, encrypted.text
        public_key = api.get(f"/v1/kms/keys/{K}/public-key").json()["public_key_pem"]
    slots = directory / "slots"
    slots.mkdir(mode=0o700)
    slot_certificate = service.issue_client_certificate(directory / "slot", "matrix-slot")
    with service.client() as api:
        created = api.post(
            "/v1/slots", json={"name": "server/matrix", "directory": str(slots / "matrix")}
        )
        assert created.status_code == 201, created.text
        doomed = api.post(
            "/v1/slots", json={"name": "server/victim", "directory": str(slots / "victim")}
        )
        assert doomed.status_code == 201, doomed.text
        job = api.post("/v1/slots/server/matrix/csr", json={**CSR_FIELDS, "common_name": "m"})
        assert job.status_code == 202, job.text
        crl_pem = api.get("/ca/issuing/crl.pem").text
    identities: dict[str, Identity | None] = {"admin": service.admin, "none": None}
    for role, grants in ROLE_GRANTS.items():
        identities[role] = service.create_principal(directory, grants=grants)
    identities["access_point"] = _access_point(service, directory / "ap", K)
    identities["disabled"] = service.create_principal(directory, grants=[{"permission": "admin"}])
    identities["revoked"] = service.create_principal(directory, grants=[{"permission": "admin"}])
    identities["disabled-new"] = identities["disabled"]
    identities["revoked-new"] = identities["revoked"]
    opened = {role: service.client(identities[role]) for role in OPENED_BEFORE}
    for client in opened.values():
        assert client.get("/v1/whoami").status_code == 200
    victim = service.create_principal(directory, grants=[{"permission": "kds.client"}])
    serial = service.issue_client_certificate(directory / "victim", "matrix-victim").serial
    with service.client() as api:
        disabled = identities["disabled"]
        revoked = identities["revoked"]
        assert disabled is not None and revoked is not None
        assert api.post(f"/v1/principals/{disabled.name}/disable").status_code == 200
        # Waits for the CRL: new handshakes with it are refused from the answer on.
        response = api.post(
            f"/v1/certificates/{revoked.serial}/revoke",
            params={"wait_for_crl": "true"},
            json={},
        )
        assert response.status_code == 200, response.text
    return World(
        service,
        identities,
        opened=opened,
        values={
            "name": "issuing",
            "serial": serial,
            "principal": victim.name,
            "victim": victim.name,
            "key_ref": K,
            "mac_ref": M,
            "aes_ref": E,
            "victim_key": victim_key,
            "victim_alias": victim_alias,
            "ciphertext": encrypted.json()["ciphertext"],
            "public_key_pem": public_key,
            "slots": str(slots),
            "kind": "server",
            "label": "matrix",
            "victim_slot": "victim",
            "cert_id": "1",
            "job_id": job.json()["id"],
            "slot_certificate": slot_certificate.certificate.read_text(),
            "slot_key": slot_certificate.key.read_text(),
            "crl_pem": crl_pem,
        },
    )


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        unique = f"m-{uuid.uuid4().hex[:10]}"
        if value == "{csr}":
            return csr_pem(unique, dns=f"{unique}.example")
        for name, replacement in {**values, "unique": unique}.items():
            value = value.replace(f"{{{name}}}", replacement)
        return value
    if isinstance(value, dict):
        return {key: _fill(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, values) for item in value]
    return value


def _send(client: httpx.Client, route: Row, path: str, body: Any) -> httpx.Response:
    if not route.stream:
        return client.request(route.method, path, params=route.query, json=body)
    with client.stream(route.method, path, params=route.query) as response:
        if response.status_code >= 400:
            response.read()  # an error is a JSON body; a stream is left unread
        return response


def outcome(world: World, role: str, route: Row) -> str:
    """'allowed', 'unauthenticated', 'forbidden', 'refused' (TLS) or what went wrong."""
    identity = world.identities[role]
    path = _fill(route.path, world.values)
    body = _fill(route.body, world.values)
    try:
        if role in world.opened:
            response = _send(world.opened[role], route, path, body)
        else:
            with world.service.client(identity) as client:
                response = _send(client, route, path, body)
    except httpx.HTTPError as exc:
        text = str(exc).lower()
        return "refused" if "revoked" in text else f"connection failed: {exc}"
    if response.status_code >= 500:
        return f"server error {response.status_code}: {response.text[:200]}"
    if response.status_code == 401:
        assert_error(response, 401, "auth.required")
        return "unauthenticated"
    if response.status_code == 403:
        assert_error(response, 403, "auth.forbidden")
        return "forbidden"
    return "allowed"


def expected(role: str, route: Row) -> str:
    if role in route.allowed:
        return "allowed"
    return {"none": "unauthenticated", "revoked-new": "refused", "disabled-new": "refused"}.get(
        role, "forbidden"
    )


# -- the tests ----------------------------------------------------------------------


def test_every_route_of_the_api_is_in_the_matrix(openapi: dict[str, Any]) -> None:
    routes = {
        (method.upper(), path) for path, methods in openapi["paths"].items() for method in methods
    }
    table = {(route.method, route.path) for route in MATRIX}
    # Path parameters are renamed in the table only where a row needs another value.
    normalised = {(method, _template(path, openapi)) for method, path in table}

    assert routes - normalised == set(), "routes without a row in MATRIX (add one)"
    assert len(MATRIX) == len(table)


def test_the_console_is_outside_the_schema_and_walked_by_its_own_matrix(
    openapi: dict[str, Any],
) -> None:
    assert not [path for path in openapi["paths"] if path == "/ui" or path.startswith("/ui/")]


def _template(path: str, openapi: dict[str, Any]) -> str:
    """The OpenAPI path a table path stands for ({aes_ref} -> {key_ref}, ...)."""
    for name, real in (
        ("aes_ref", "key_ref"),
        ("mac_ref", "key_ref"),
        ("victim_key", "key_ref"),
        ("victim_alias", "name"),
        ("victim_slot", "label"),
        ("principal", "name"),
    ):
        candidate = path.replace(f"{{{name}}}", f"{{{real}}}")
        if candidate in openapi["paths"]:
            return candidate
    return path


def test_every_route_answers_every_role_as_the_matrix_says(world: World) -> None:
    wrong: list[str] = []
    checked = 0
    for route in MATRIX:
        for role in (*PRINCIPALS, *REFUSED):
            got = outcome(world, role, route)
            want = expected(role, route)
            checked += 1
            if got != want:
                wrong.append(f"{route.method} {route.path} as {role}: {got}, expected {want}")

    print(f"\naccess matrix: {len(MATRIX)} routes x {len(PRINCIPALS) + len(REFUSED)} roles")
    assert wrong == [], "\n".join(wrong)
    assert checked == len(MATRIX) * (len(PRINCIPALS) + len(REFUSED))


# -- escalation ---------------------------------------------------------------------


@pytest.fixture
def as_role(world: World) -> Iterator[Any]:
    clients: list[httpx.Client] = []

    def client(role: str) -> httpx.Client:
        identity = world.identities[role]
        made = world.service.client(identity)
        clients.append(made)
        return made

    yield client
    for made in clients:
        made.close()


def test_no_principal_but_an_admin_creates_principals_or_access_points(
    world: World, as_role: Any
) -> None:
    name = f"escalated-{uuid.uuid4().hex[:6]}"
    for role in ("issuer", "revoker", "kms_manager", "access_point", "auditor", "kds_client"):
        made = as_role(role).post(
            "/v1/principals", json={"name": name, "grants": [{"permission": "admin"}]}
        )
        assert_error(made, 403, "auth.forbidden")
        point = as_role(role).post(
            "/v1/kms/access-points", json={"name": name, "keys": ["*"], "operations": ["*"]}
        )
        assert_error(point, 403, "auth.forbidden")
    with world.service.client() as api:
        assert api.get(f"/v1/principals/{name}").status_code == 404


def test_an_access_point_cannot_use_another_key_or_operation(world: World, as_role: Any) -> None:
    access_point = as_role("access_point")
    other = world.values["victim_key"]

    own = access_point.post(
        f"/v1/kms/keys/{K}/sign", json={"message": B64, "algorithm": "ECDSA_SHA_256"}
    )
    assert own.status_code == 200, own.text
    for attempt in (
        access_point.post(
            f"/v1/kms/keys/{other}/sign", json={"message": B64, "algorithm": "ECDSA_SHA_256"}
        ),
        access_point.post(
            "/v1/kms/batch",
            json={
                "items": [
                    {
                        "operation": "sign",
                        "key": other,
                        "message": B64,
                        "algorithm": "ECDSA_SHA_256",
                    }
                ]
            },
        ),
        access_point.post(f"/v1/kms/keys/{E}/encrypt", json={"plaintext": B64}),
        access_point.post(f"/v1/kms/keys/{K}/rotate"),
        access_point.post("/v1/kms/aliases", json={"alias": "alias/mine", "key": other}),
    ):
        if attempt.status_code == 200 and "results" in attempt.json():
            result = attempt.json()["results"][0]
            assert result["error"]["code"] == "auth.forbidden", result
        else:
            assert_error(attempt, 403, "auth.forbidden")


@pytest.mark.parametrize(
    ("ca", "profile", "how"),
    [
        ("root", "client", "issue"),
        ("issuing", "server", "issue"),
        ("root", "client", "sign"),
        ("issuing", "server", "sign"),
        ("issuing", "kds-server", "issue"),
    ],
)
def test_an_issuer_cannot_pick_another_ca_or_profile(
    world: World, as_role: Any, ca: str, profile: str, how: str
) -> None:
    with world.service.client() as api:
        before = api.get("/v1/certificates", params={"limit": 1000}).json()["items"]
    issuer = as_role("issuer")

    if how == "issue":
        response = issuer.post(
            "/v1/certificates",
            json={"ca": ca, "profile": profile, "common_name": "escalate.example"},
        )
    else:
        response = issuer.post(
            "/v1/certificates/sign",
            json={"ca": ca, "profile": profile, "csr_pem": csr_pem("e", dns="e.example")},
        )

    assert_error(response, 403, "auth.forbidden")
    with world.service.client() as api:
        assert api.get("/v1/certificates", params={"limit": 1000}).json()["items"] == before
