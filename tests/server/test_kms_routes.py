"""The KMS over HTTPS: the real ``certward serve``, real mTLS identities, real openssl.

Keys are made per test (unique aliases), on the session's shared service.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.serialization import pkcs12

from certward.kms.specs import KMS_OPERATIONS
from tests.server.service import Identity, Service, assert_error

MESSAGE = b"quarterly-report.pdf contents\n"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unique(prefix: str = "k") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def api(service: Service) -> Iterator[httpx.Client]:
    with service.client() as client:
        yield client


def create_key(api: httpx.Client, spec: str, usage: str, **options: Any) -> dict[str, Any]:
    response = api.post("/v1/kms/keys", json={"spec": spec, "usage": usage, **options})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def access_point(
    service: Service, directory: Path, keys: list[str], operations: list[str]
) -> Identity:
    """Create an access point through the API and present it from its PKCS#12 bundle."""
    name = unique("app")
    with service.client() as admin:
        response = admin.post(
            "/v1/kms/access-points", json={"name": name, "keys": keys, "operations": operations}
        )
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"principal", "client_key", "password", "ca_pem", "request_id"}
    assert body["client_key"]["KeyId"] == name
    data = base64.b64decode(body["client_key"]["PrivateKeyData"])
    key, certificate, chain = pkcs12.load_key_and_certificates(data, body["password"].encode())
    assert key is not None and certificate is not None
    assert body["ca_pem"].encode() == service.ca_certificate.read_bytes()
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    cert_file.write_bytes(
        b"".join(
            c.public_bytes(serialization.Encoding.PEM)
            for c in [certificate, *chain]
            if c.subject != c.issuer
        )
    )
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Identity(name, cert_file, key_file, body["principal"]["certificate_serial"])


# -- signatures other tools accept -----------------------------------------------------------


@pytest.mark.interop
def test_an_api_rsa_pss_signature_verifies_with_openssl_saltlen_32(
    api: httpx.Client, openssl: str, tmp_path: Path
) -> None:
    key = create_key(api, "RSA_2048", "SIGN_VERIFY")
    signed = api.post(
        f"/v1/kms/keys/{key['key_id']}/sign",
        json={"message": b64(MESSAGE), "algorithm": "RSA_PSS_SHA_256"},
    )
    public = api.get(f"/v1/kms/keys/{key['key_id']}/public-key")
    data, signature, pem = tmp_path / "report", tmp_path / "report.sig", tmp_path / "pub.pem"
    data.write_bytes(MESSAGE)
    signature.write_bytes(base64.b64decode(signed.json()["signature"]))
    pem.write_text(public.json()["public_key_pem"])
    command = [
        openssl,
        "dgst",
        "-sha256",
        "-sigopt",
        "rsa_padding_mode:pss",
        "-sigopt",
        "rsa_pss_saltlen:32",
        "-verify",
        str(pem),
        "-signature",
        str(signature),
        str(data),
    ]

    good = subprocess.run(command, capture_output=True, text=True, check=False)
    data.write_bytes(MESSAGE.replace(b"report", b"rePort"))
    bad = subprocess.run(command, capture_output=True, text=True, check=False)

    assert signed.status_code == 200
    assert signed.json()["request_id"] == signed.headers["x-request-id"]
    assert (signed.json()["key_id"], signed.json()["key_version"]) == (key["key_id"], 1)
    assert good.returncode == 0 and "Verified OK" in good.stdout, good.stdout + good.stderr
    assert bad.returncode != 0


@pytest.mark.parametrize("form", ["{alias}", "{alias_colon}", "{alias_quoted}", "{key_id}"])
def test_a_key_is_named_by_id_or_alias_in_any_accepted_form(api: httpx.Client, form: str) -> None:
    name = unique("sign")
    key = create_key(api, "EC_P256", "SIGN_VERIFY", alias=f"alias/{name}")
    ref = form.format(
        alias=f"alias/{name}",
        alias_colon=f"alias:{name}",
        alias_quoted=f"alias%2F{name}",
        key_id=key["key_id"],
    )
    digest = hashlib.sha256(MESSAGE).digest()

    signed = api.post(
        f"/v1/kms/keys/{ref}/sign", json={"digest": b64(digest), "algorithm": "ECDSA_SHA_256"}
    )
    verified = api.post(
        f"/v1/kms/keys/{ref}/verify",
        json={
            "message": b64(MESSAGE),
            "algorithm": "ECDSA_SHA_256",
            "signature": signed.json()["signature"],
        },
    )
    described = api.get(f"/v1/kms/keys/{ref}")

    assert signed.status_code == 200, signed.text
    assert verified.json()["value"] is True
    assert described.json()["aliases"] == [f"alias/{name}"]


# -- access points over real mTLS -------------------------------------------------------


@pytest.fixture(scope="module")
def point_keys(service: Service) -> dict[str, str]:
    """Two signing keys and an encryption key; the access point gets the first only."""
    with service.client() as admin:
        return {
            name: create_key(admin, spec, usage)["key_id"]
            for name, spec, usage in (
                ("mine", "RSA_2048", "SIGN_VERIFY"),
                ("other", "EC_P256", "SIGN_VERIFY"),
                ("secret", "AES_256", "ENCRYPT_DECRYPT"),
            )
        }


@pytest.fixture(scope="module")
def point(
    service: Service, point_keys: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Identity:
    return access_point(
        service, tmp_path_factory.mktemp("access-point"), [point_keys["mine"]], ["sign", "verify"]
    )


def test_an_access_point_signs_and_verifies_with_its_key(
    service: Service, point: Identity, point_keys: dict[str, str]
) -> None:
    key_id = point_keys["mine"]
    with service.client(point) as app:
        signed = app.post(
            f"/v1/kms/keys/{key_id}/sign",
            json={"message": b64(MESSAGE), "algorithm": "RSA_PSS_SHA_256"},
        )
        verified = app.post(
            f"/v1/kms/keys/{key_id}/verify",
            json={
                "message": b64(MESSAGE),
                "algorithm": "RSA_PSS_SHA_256",
                "signature": signed.json()["signature"],
            },
        )
        whoami = app.get("/v1/whoami").json()

    assert signed.status_code == 200, signed.text
    assert set(signed.json()) == {"key_id", "key_version", "algorithm", "signature", "request_id"}
    assert verified.json()["value"] is True
    assert whoami["name"] == point.name
    assert whoami["grants"] == [
        {
            "permission": "kms.use",
            "resources": [key_id],
            "profiles": ["*"],
            "operations": ["sign", "verify"],
        }
    ]


@pytest.mark.parametrize(
    "call",
    [
        ("post", "/v1/kms/keys/{other}/sign", {"message": "bQ==", "algorithm": "ECDSA_SHA_256"}),
        ("post", "/v1/kms/keys/{secret}/encrypt", {"plaintext": "bQ=="}),
        ("post", "/v1/kms/keys/{mine}/encrypt", {"plaintext": "bQ=="}),
        ("post", "/v1/kms/keys/{mine}/generate-data-key", {}),
        ("get", "/v1/kms/keys/{mine}/public-key", None),
        ("get", "/v1/kms/keys/{mine}", None),
        ("get", "/v1/kms/keys", None),
        ("post", "/v1/kms/keys/{mine}/rotate", None),
        ("post", "/v1/kms/keys/{mine}/disable", None),
        ("post", "/v1/kms/keys", {"spec": "AES_256", "usage": "ENCRYPT_DECRYPT"}),
        ("get", "/v1/kms/keys/{mine}/usage", None),
        (
            "post",
            "/v1/kms/keys/key-00000000-0000-4000-8000-000000000000/sign",
            {"message": "bQ==", "algorithm": "ECDSA_SHA_256"},
        ),
        (
            "post",
            "/v1/kms/access-points",
            {"name": "x", "keys": ["{other}"], "operations": ["sign"]},
        ),
    ],
    ids=[
        "sign-other-key",
        "encrypt-other-key",
        "other-operation",
        "data-key",
        "public-key",
        "describe",
        "list",
        "rotate",
        "disable",
        "create",
        "usage",
        "missing-key",
        "access-point",
    ],
)
def test_an_access_point_is_refused_everything_else(
    service: Service,
    point: Identity,
    point_keys: dict[str, str],
    call: tuple[str, str, dict[str, Any] | None],
) -> None:
    method, path, body = call

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.format(**point_keys)
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    with service.client(point) as app:
        response = app.request(method.upper(), fill(path), json=fill(body))

    assert_error(response, 403, "auth.forbidden")
    with service.client() as admin:
        key = admin.get(f"/v1/kms/keys/{point_keys['mine']}").json()
    assert (key["state"], key["primary_version"]) == ("Enabled", 1)


# -- audit: every use, queryable per key --------------------------------------------------


def test_every_use_is_audited_per_key_with_version_operation_and_request_id(
    service: Service, api: httpx.Client, tmp_path: Path
) -> None:
    key = create_key(api, "AES_256", "ENCRYPT_DECRYPT")
    key_id = key["key_id"]
    reader = access_point(service, tmp_path, [key_id], ["decrypt"])
    encrypted = api.post(f"/v1/kms/keys/{key_id}/encrypt", json={"plaintext": b64(b"x")})
    with service.client(reader) as app:
        decrypted = app.post("/v1/kms/decrypt", json={"ciphertext": encrypted.json()["ciphertext"]})
        refused = app.post(f"/v1/kms/keys/{key_id}/encrypt", json={"plaintext": b64(b"y")})
    failed = api.post(
        "/v1/kms/decrypt",
        json={"ciphertext": encrypted.json()["ciphertext"], "context": {"wrong": "context"}},
    )

    events = api.get(f"/v1/kms/keys/{key_id}/usage").json()["items"]

    seen = [
        (e["principal"], e["action"], e["result"], e["request_id"], e["details"]) for e in events
    ]
    assert seen[:4] == [
        (
            "admin",
            "kms.decrypt",
            "kms.invalid_ciphertext",
            failed.headers["x-request-id"],
            {"key_id": key_id, "key_version": None, "operation": "decrypt"},
        ),
        (
            reader.name,
            "kms.encrypt",
            "auth.forbidden",
            refused.headers["x-request-id"],
            {"key_id": key_id, "key_version": None, "operation": "encrypt"},
        ),
        (
            reader.name,
            "kms.decrypt",
            "ok",
            decrypted.headers["x-request-id"],
            {"key_id": key_id, "key_version": 1, "operation": "decrypt"},
        ),
        (
            "admin",
            "kms.encrypt",
            "ok",
            encrypted.headers["x-request-id"],
            {"key_id": key_id, "key_version": 1, "operation": "encrypt"},
        ),
    ]
    assert events[-1]["action"] == "kms.key.create"
    assert all(e["target"] == key_id for e in events)


# -- errors: typed, clear, nothing changed ----------------------------------------------


def test_bad_calls_answer_typed_errors(api: httpx.Client) -> None:
    signing = create_key(api, "EC_P256", "SIGN_VERIFY")["key_id"]
    secret = create_key(api, "AES_256", "ENCRYPT_DECRYPT")["key_id"]
    blob = base64.b64decode(
        api.post(
            f"/v1/kms/keys/{secret}/encrypt", json={"plaintext": b64(b"x"), "context": {"a": "b"}}
        ).json()["ciphertext"]
    )
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    cases = [
        (
            f"/v1/kms/keys/{secret}/sign",
            {"message": "bQ==", "algorithm": "ECDSA_SHA_256"},
            422,
            "kms.incorrect_usage",
        ),
        (
            f"/v1/kms/keys/{signing}/sign",
            {"message": "bQ==", "algorithm": "ECDSA_SHA_384"},
            400,
            "kms.unsupported_algorithm",
        ),
        (
            f"/v1/kms/keys/{signing}/sign",
            {"digest": b64(b"0" * 31), "algorithm": "ECDSA_SHA_256"},
            400,
            "input.invalid",
        ),
        (
            f"/v1/kms/keys/{signing}/sign",
            {"message": b64(b"x" * 4097), "algorithm": "ECDSA_SHA_256"},
            413,
            "input.too_large",
        ),
        (
            f"/v1/kms/keys/{signing}/sign",
            {"message": "not base64!", "algorithm": "ECDSA_SHA_256"},
            400,
            "input.invalid",
        ),
        (
            f"/v1/kms/keys/{signing}/sign",
            {"message": "bQ==", "algorithm": "ECDSA_SHA_256", "extra": 1},
            400,
            "input.invalid",
        ),
        (
            "/v1/kms/decrypt",
            {"ciphertext": b64(tampered), "context": {"a": "b"}},
            400,
            "kms.invalid_ciphertext",
        ),
        (
            "/v1/kms/decrypt",
            {"ciphertext": b64(blob), "context": {"a": "c"}},
            400,
            "kms.invalid_ciphertext",
        ),
        (
            "/v1/kms/keys/key-00000000-0000-4000-8000-000000000000/sign",
            {"message": "bQ==", "algorithm": "ECDSA_SHA_256"},
            404,
            "kms.key_not_found",
        ),
        (
            "/v1/kms/keys/no-such-thing/sign",
            {"message": "bQ==", "algorithm": "ECDSA_SHA_256"},
            400,
            "input.invalid",
        ),
    ]

    answers = [(api.post(path, json=body), status, code) for path, body, status, code in cases]

    messages = set()
    for response, status, code in answers:
        error = assert_error(response, status, code)
        if code == "kms.invalid_ciphertext":
            messages.add(error["message"])
    assert len(messages) == 1  # tampered blob and wrong context: one message, no oracle
    assert "digest" in answers[3][0].json()["error"]["message"]


def test_verify_with_a_wrong_signature_is_false_not_an_error(api: httpx.Client) -> None:
    key = create_key(api, "ED25519", "SIGN_VERIFY")["key_id"]

    response = api.post(
        f"/v1/kms/keys/{key}/verify",
        json={"message": b64(MESSAGE), "algorithm": "ED25519", "signature": b64(b"\0" * 64)},
    )

    assert response.status_code == 200
    assert response.json()["value"] is False


def test_a_disabled_key_is_refused_at_once_and_works_again_when_enabled(
    api: httpx.Client,
) -> None:
    key = create_key(api, "EC_P256", "SIGN_VERIFY")["key_id"]
    sign = {"message": b64(MESSAGE), "algorithm": "ECDSA_SHA_256"}
    assert api.post(f"/v1/kms/keys/{key}/sign", json=sign).status_code == 200  # now cached

    disabled = api.post(f"/v1/kms/keys/{key}/disable")
    refused = api.post(f"/v1/kms/keys/{key}/sign", json=sign)
    enabled = api.post(f"/v1/kms/keys/{key}/enable")
    again = api.post(f"/v1/kms/keys/{key}/sign", json=sign)

    assert disabled.json()["state"] == "Disabled"
    assert_error(refused, 409, "kms.invalid_state")
    assert enabled.json()["state"] == "Enabled"
    assert again.status_code == 200


def test_rotation_keeps_old_data_until_min_decryption_version_retires_it(
    api: httpx.Client,
) -> None:
    key = create_key(api, "AES_256", "ENCRYPT_DECRYPT")["key_id"]
    old = api.post(f"/v1/kms/keys/{key}/encrypt", json={"plaintext": b64(b"v1")}).json()

    rotated = api.post(f"/v1/kms/keys/{key}/rotate").json()
    new = api.post(f"/v1/kms/keys/{key}/encrypt", json={"plaintext": b64(b"v2")}).json()
    opened = api.post("/v1/kms/decrypt", json={"ciphertext": old["ciphertext"]}).json()
    moved = api.post(
        "/v1/kms/re-encrypt", json={"ciphertext": old["ciphertext"], "destination_key": key}
    ).json()
    retired = api.post(f"/v1/kms/keys/{key}/settings", json={"min_decryption_version": 2})
    refused = api.post("/v1/kms/decrypt", json={"ciphertext": old["ciphertext"]})
    still = api.post("/v1/kms/decrypt", json={"ciphertext": moved["ciphertext"]}).json()

    assert (rotated["primary_version"], new["key_version"]) == (2, 2)
    assert (opened["key_version"], base64.b64decode(opened["plaintext"])) == (1, b"v1")
    assert (moved["source_key_version"], moved["key_version"]) == (1, 2)
    assert retired.json()["min_decryption_version"] == 2
    error = assert_error(refused, 422, "kms.version_retired")
    assert "version 1" in error["message"]
    assert base64.b64decode(still["plaintext"]) == b"v1"


def test_deletion_is_scheduled_within_7_to_30_days_and_cancelled(api: httpx.Client) -> None:
    key = create_key(api, "AES_256", "ENCRYPT_DECRYPT")["key_id"]

    too_soon = api.post(f"/v1/kms/keys/{key}/schedule-deletion", json={"pending_window_days": 6})
    scheduled = api.post(f"/v1/kms/keys/{key}/schedule-deletion", json={"pending_window_days": 7})
    unusable = api.post(f"/v1/kms/keys/{key}/encrypt", json={"plaintext": "bQ=="})
    cancelled = api.post(f"/v1/kms/keys/{key}/cancel-deletion")

    assert_error(too_soon, 400, "input.invalid")
    assert scheduled.json()["state"] == "PendingDeletion"
    assert scheduled.json()["deletion_date"] is not None
    assert_error(unusable, 409, "kms.invalid_state")
    assert (cancelled.json()["state"], cancelled.json()["deletion_date"]) == ("Disabled", None)


# -- batch ---------------------------------------------------------------------------------


def test_a_batch_answers_each_item_on_its_own(
    service: Service, api: httpx.Client, point: Identity, point_keys: dict[str, str]
) -> None:
    mine, other = point_keys["mine"], point_keys["other"]
    sign = {"operation": "sign", "message": b64(MESSAGE), "algorithm": "RSA_PSS_SHA_256"}
    items = [
        {**sign, "key": mine},
        {**sign, "key": other},
        {**sign, "key": mine, "algorithm": "ECDSA_SHA_256"},
        {"operation": "encrypt", "key": mine, "plaintext": "bQ=="},
        {"operation": "frobnicate", "key": mine},
        {**sign, "key": mine, "digest": b64(hashlib.sha256(MESSAGE).digest()), "message": None},
    ]

    with service.client(point) as app:
        response = app.post("/v1/kms/batch", json={"items": items})

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["ok"] for r in results] == [True, False, False, False, False, True]
    assert [r.get("error", {}).get("code") for r in results] == [
        None,
        "auth.forbidden",
        "kms.unsupported_algorithm",
        "auth.forbidden",
        "input.invalid",
        None,
    ]
    verified = api.post(
        "/v1/kms/batch",
        json={
            "items": [
                {
                    "operation": "verify",
                    "key": mine,
                    "message": b64(MESSAGE),
                    "algorithm": "RSA_PSS_SHA_256",
                    "signature": result["signature"],
                }
                for result in (results[0], results[5])
            ]
        },
    )
    assert [r["value"] for r in verified.json()["results"]] == [True, True]
    events = api.get(f"/v1/kms/keys/{mine}/usage").json()["items"]
    batch_events = [e for e in events if e["request_id"] == response.headers["x-request-id"]]
    assert sorted(
        (e["action"], e["result"], e["details"]["key_version"], e["details"]["count"])
        for e in batch_events
    ) == [
        ("kms.encrypt", "auth.forbidden", None, 1),
        ("kms.sign", "kms.unsupported_algorithm", None, 1),
        ("kms.sign", "ok", 1, 2),  # one row per key, version, operation and result
    ]


def test_a_batch_over_the_limit_is_refused_whole(api: httpx.Client) -> None:
    items = [{"operation": "sign", "key": "alias/x", "message": "bQ==", "algorithm": "x"}] * 1001

    assert_error(api.post("/v1/kms/batch", json={"items": items}), 413, "input.too_large")


# -- bring your own key, data keys, MACs, random ----------------------------------------


def test_material_imported_over_the_api_encrypts(api: httpx.Client) -> None:
    key = create_key(api, "HMAC_256", "GENERATE_VERIFY_MAC", origin="EXTERNAL")["key_id"]
    assert api.get(f"/v1/kms/keys/{key}").json()["state"] == "PendingImport"
    parameters = api.post(
        f"/v1/kms/keys/{key}/import-parameters", json={"wrapping_algorithm": "RSAES_OAEP_SHA_256"}
    ).json()
    public = serialization.load_pem_public_key(parameters["public_key_pem"].encode())
    secret = b"s" * 32
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    wrapped = public.encrypt(secret, oaep)  # type: ignore[union-attr]

    imported = api.post(
        f"/v1/kms/keys/{key}/import",
        json={"import_token": parameters["import_token"], "encrypted_key_material": b64(wrapped)},
    )
    mac = api.post(
        f"/v1/kms/keys/{key}/generate-mac",
        json={"message": b64(MESSAGE), "algorithm": "HMAC_SHA_256"},
    ).json()

    assert imported.json()["state"] == "Enabled"
    assert base64.b64decode(mac["mac"]) == hmac.digest(secret, MESSAGE, "sha256")
    checked = api.post(
        f"/v1/kms/keys/{key}/verify-mac",
        json={"message": b64(MESSAGE), "algorithm": "HMAC_SHA_256", "mac": mac["mac"]},
    )
    assert checked.json()["value"] is True


def test_data_keys_come_with_or_without_plaintext(api: httpx.Client) -> None:
    key = create_key(api, "AES_256", "ENCRYPT_DECRYPT")["key_id"]

    full = api.post(f"/v1/kms/keys/{key}/generate-data-key", json={}).json()
    wrapped = api.post(
        f"/v1/kms/keys/{key}/generate-data-key", json={"include_plaintext": False}
    ).json()
    opened = api.post("/v1/kms/decrypt", json={"ciphertext": full["ciphertext"], "key": key})

    assert len(base64.b64decode(full["plaintext"])) == 32
    assert "plaintext" not in wrapped
    assert opened.json()["plaintext"] == full["plaintext"]


def test_any_principal_may_ask_for_random_bytes(service: Service, point: Identity) -> None:
    with service.client(point) as app:
        response = app.post("/v1/kms/random", json={"number_of_bytes": 48})

    assert len(base64.b64decode(response.json()["random"])) == 48


def test_the_contract_operations_are_the_grantable_ones() -> None:
    assert set(KMS_OPERATIONS) == {
        "sign",
        "verify",
        "encrypt",
        "decrypt",
        "generate_data_key",
        "re_encrypt",
        "generate_mac",
        "verify_mac",
        "get_public_key",
        "describe",
    }
