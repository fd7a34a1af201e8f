"""Every KMS operation once: method, path, body and how to read the answer (see ``_calls.py``).

A key reference (``key-<uuid>`` or ``alias/<name>``) always travels as one path
segment, quoted with nothing safe (``alias/app`` → ``alias%2Fapp``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import httpx

from certward.client import _kms_decode as decode
from certward.client._calls import Call, _query, _segment
from certward.client._kms_batch import (
    BatchItem,
    as_bytes,
    b64,
    context_field,
    message_or_digest,
)
from certward.client._kms_results import (
    AccessPointCredentials,
    BatchResult,
    RandomBytes,
    RemoteAlias,
    RemoteDataKey,
    RemoteDecrypted,
    RemoteEncrypted,
    RemoteImportParameters,
    RemoteKeyInfo,
    RemoteKeyPage,
    RemoteMac,
    RemoteMacCheck,
    RemotePublicKey,
    RemoteReEncrypted,
    RemoteSignature,
    RemoteVerification,
)
from certward.client._results import RemoteAuditPage
from certward.errors import InvalidInput

__all__ = [
    "batch",
    "cancel_key_deletion",
    "create_access_point",
    "create_alias",
    "create_key",
    "decrypt",
    "delete_alias",
    "describe_key",
    "disable_key",
    "enable_key",
    "encrypt",
    "generate_data_key",
    "generate_mac",
    "generate_random",
    "get_parameters_for_import",
    "get_public_key",
    "import_key_material",
    "import_public_key",
    "key_usage",
    "list_keys",
    "re_encrypt",
    "rotate_key",
    "schedule_key_deletion",
    "sign",
    "update_key_settings",
    "verify",
    "verify_mac",
]

T = TypeVar("T")
JSON = Mapping[str, Any]
_KEYS = "/v1/kms/keys"


def _key_path(key_id: str, action: str = "") -> str:
    if not isinstance(key_id, str) or not key_id:
        raise InvalidInput("a key id (key-…) or alias (alias/…) is required")
    return f"{_KEYS}/{_segment(key_id)}{'/' + action if action else ''}"


def _reader(build: Callable[[JSON, str], T]) -> Callable[[httpx.Response, str], T]:
    def read(response: httpx.Response, request_id: str) -> T:
        return build(response.json(), request_id)

    return read


# -- key management ----------------------------------------------------------------------


def create_key(
    *,
    spec: str,
    usage: str,
    description: str | None,
    tags: Mapping[str, str] | None,
    alias: str | None,
    rotation_period_days: int | None,
    origin: str | None,
) -> Call[RemoteKeyInfo]:
    """POST /v1/kms/keys."""
    body: dict[str, Any] = {"spec": spec, "usage": usage}
    optional = {
        "description": description,
        "tags": dict(tags) if tags else None,
        "alias": alias,
        "rotation_period_days": rotation_period_days,
        "origin": origin,
    }
    body.update({name: value for name, value in optional.items() if value is not None})
    return Call("POST", _KEYS, _reader(decode.key), body=body)


def list_keys(*, limit: int, cursor: str | None) -> Call[RemoteKeyPage]:
    """GET /v1/kms/keys."""
    params = _query(limit=limit, cursor=cursor)
    return Call("GET", _KEYS, _reader(decode.key_page), params=params)


def describe_key(key_id: str) -> Call[RemoteKeyInfo]:
    """GET /v1/kms/keys/{key}."""
    return Call("GET", _key_path(key_id), _reader(decode.key))


def _key_action(
    key_id: str, action: str, body: Mapping[str, Any] | None = None
) -> Call[RemoteKeyInfo]:
    return Call("POST", _key_path(key_id, action), _reader(decode.key), body=body or {})


def rotate_key(key_id: str) -> Call[RemoteKeyInfo]:
    """POST /v1/kms/keys/{key}/rotate."""
    return _key_action(key_id, "rotate")


def enable_key(key_id: str) -> Call[RemoteKeyInfo]:
    """POST /v1/kms/keys/{key}/enable."""
    return _key_action(key_id, "enable")


def disable_key(key_id: str) -> Call[RemoteKeyInfo]:
    """POST /v1/kms/keys/{key}/disable."""
    return _key_action(key_id, "disable")


def schedule_key_deletion(key_id: str, *, pending_window_days: int | None) -> Call[RemoteKeyInfo]:
    """POST /v1/kms/keys/{key}/schedule-deletion."""
    body = {} if pending_window_days is None else {"pending_window_days": pending_window_days}
    return _key_action(key_id, "schedule-deletion", body)


def cancel_key_deletion(key_id: str) -> Call[RemoteKeyInfo]:
    """POST /v1/kms/keys/{key}/cancel-deletion."""
    return _key_action(key_id, "cancel-deletion")


def update_key_settings(
    key_id: str,
    *,
    description: str | None,
    tags: Mapping[str, str] | None,
    rotation_period_days: int | None,
    min_decryption_version: int | None,
) -> Call[RemoteKeyInfo]:
    """POST /v1/kms/keys/{key}/settings (only the settings given are sent)."""
    given = {
        "description": description,
        "tags": None if tags is None else dict(tags),
        "rotation_period_days": rotation_period_days,
        "min_decryption_version": min_decryption_version,
    }
    body = {name: value for name, value in given.items() if value is not None}
    if not body:
        raise InvalidInput("give at least one setting to change")
    return _key_action(key_id, "settings", body)


def _alias_name(alias: str) -> str:
    name = alias.removeprefix("alias/")
    if not name:
        raise InvalidInput(f"alias {alias!r} has no name: use alias/<name>")
    return name


def create_alias(alias: str, key_id: str) -> Call[RemoteAlias]:
    """POST /v1/kms/aliases."""
    body = {"alias": f"alias/{_alias_name(alias)}", "key": key_id}
    return Call("POST", "/v1/kms/aliases", _reader(decode.alias), body=body)


def delete_alias(alias: str) -> Call[RemoteAlias]:
    """DELETE /v1/kms/aliases/{name}."""
    return Call("DELETE", f"/v1/kms/aliases/{_segment(_alias_name(alias))}", _reader(decode.alias))


def key_usage(key_id: str, *, limit: int, cursor: str | None) -> Call[RemoteAuditPage]:
    """GET /v1/kms/keys/{key}/usage: the audit events of one key, newest first."""
    params = _query(limit=limit, cursor=cursor)
    return Call("GET", _key_path(key_id, "usage"), _reader(decode.audit_page), params=params)


# -- cryptographic operations --------------------------------------------------------------


def sign(
    key_id: str, *, message: bytes | str | None, digest: bytes | None, algorithm: str
) -> Call[RemoteSignature]:
    """POST /v1/kms/keys/{key}/sign."""
    body = {"algorithm": algorithm, **message_or_digest(message, digest)}
    return Call("POST", _key_path(key_id, "sign"), _reader(decode.signature), body=body)


def verify(
    key_id: str,
    *,
    message: bytes | str | None,
    digest: bytes | None,
    signature: bytes,
    algorithm: str,
    key_version: int | None,
) -> Call[RemoteVerification]:
    """POST /v1/kms/keys/{key}/verify."""
    body: dict[str, Any] = {
        "algorithm": algorithm,
        "signature": b64(as_bytes(signature, "signature")),
        **message_or_digest(message, digest),
    }
    if key_version is not None:
        body["key_version"] = key_version
    return Call("POST", _key_path(key_id, "verify"), _reader(decode.verification), body=body)


def encrypt(
    key_id: str,
    *,
    plaintext: bytes | str,
    context: Mapping[str, str] | None,
    algorithm: str | None,
) -> Call[RemoteEncrypted]:
    """POST /v1/kms/keys/{key}/encrypt."""
    body: dict[str, Any] = {"plaintext": b64(as_bytes(plaintext, "plaintext"))}
    body.update(context_field(context))
    if algorithm is not None:
        body["algorithm"] = algorithm
    return Call("POST", _key_path(key_id, "encrypt"), _reader(decode.encrypted), body=body)


def decrypt(
    ciphertext: bytes,
    *,
    context: Mapping[str, str] | None,
    key_id: str | None,
    algorithm: str | None,
    key_version: int | None,
) -> Call[RemoteDecrypted]:
    """POST /v1/kms/decrypt, or /v1/kms/keys/{key}/decrypt for raw RSAES-OAEP ciphertext."""
    body: dict[str, Any] = {"ciphertext": b64(as_bytes(ciphertext, "ciphertext"))}
    body.update(context_field(context))
    if algorithm is None and key_version is None:
        if key_id is not None:
            body["key"] = key_id
        return Call("POST", "/v1/kms/decrypt", _reader(decode.decrypted), body=body)
    if key_id is None:
        raise InvalidInput("decrypting with algorithm= or key_version= needs key_id=")
    if algorithm is not None:
        body["algorithm"] = algorithm
    if key_version is not None:
        body["key_version"] = key_version
    return Call("POST", _key_path(key_id, "decrypt"), _reader(decode.decrypted), body=body)


def generate_data_key(
    key_id: str,
    *,
    key_spec: str | None,
    number_of_bytes: int | None,
    context: Mapping[str, str] | None,
    include_plaintext: bool,
) -> Call[RemoteDataKey]:
    """POST /v1/kms/keys/{key}/generate-data-key."""
    if key_spec is not None and number_of_bytes is not None:
        raise InvalidInput("give key_spec= or number_of_bytes=, not both")
    body: dict[str, Any] = {"include_plaintext": include_plaintext}
    if key_spec is not None:
        body["key_spec"] = key_spec
    if number_of_bytes is not None:
        body["number_of_bytes"] = number_of_bytes
    body.update(context_field(context))
    return Call("POST", _key_path(key_id, "generate-data-key"), _reader(decode.data_key), body=body)


def re_encrypt(
    ciphertext: bytes,
    *,
    destination_key_id: str,
    source_context: Mapping[str, str] | None,
    destination_context: Mapping[str, str] | None,
) -> Call[RemoteReEncrypted]:
    """POST /v1/kms/re-encrypt."""
    body: dict[str, Any] = {
        "ciphertext": b64(as_bytes(ciphertext, "ciphertext")),
        "destination_key": destination_key_id,
        **context_field(source_context, "source_context"),
        **context_field(destination_context, "destination_context"),
    }
    return Call("POST", "/v1/kms/re-encrypt", _reader(decode.re_encrypted), body=body)


def generate_mac(key_id: str, *, message: bytes | str, algorithm: str) -> Call[RemoteMac]:
    """POST /v1/kms/keys/{key}/generate-mac."""
    body = {"message": b64(as_bytes(message, "message")), "algorithm": algorithm}
    return Call("POST", _key_path(key_id, "generate-mac"), _reader(decode.mac), body=body)


def verify_mac(
    key_id: str, *, message: bytes | str, mac: bytes, algorithm: str, key_version: int | None
) -> Call[RemoteMacCheck]:
    """POST /v1/kms/keys/{key}/verify-mac."""
    body: dict[str, Any] = {
        "message": b64(as_bytes(message, "message")),
        "mac": b64(as_bytes(mac, "mac")),
        "algorithm": algorithm,
    }
    if key_version is not None:
        body["key_version"] = key_version
    return Call("POST", _key_path(key_id, "verify-mac"), _reader(decode.mac_check), body=body)


def get_public_key(key_id: str, *, version: int | None) -> Call[RemotePublicKey]:
    """GET /v1/kms/keys/{key}/public-key."""
    params = _query(version=version)
    return Call("GET", _key_path(key_id, "public-key"), _reader(decode.public_key), params=params)


def generate_random(number_of_bytes: int) -> Call[RandomBytes]:
    """POST /v1/kms/random."""
    body = {"number_of_bytes": number_of_bytes}
    return Call("POST", "/v1/kms/random", _reader(decode.random_bytes), body=body)


def batch(items: Sequence[BatchItem]) -> Call[BatchResult]:
    """POST /v1/kms/batch: each item answered on its own, in order."""
    if not items:
        raise InvalidInput("a batch needs at least one item")
    operations = [item.operation for item in items]

    def read(data: JSON, request_id: str) -> BatchResult:
        return decode.batch_result(data, request_id, operations)

    body = {
        "items": [
            {"operation": item.operation, "key": item.key_id, **item.body()} for item in items
        ]
    }
    return Call("POST", "/v1/kms/batch", _reader(read), body=body)


# -- bring your own key --------------------------------------------------------------------


def get_parameters_for_import(
    key_id: str, *, wrapping_algorithm: str, wrapping_spec: str | None
) -> Call[RemoteImportParameters]:
    """POST /v1/kms/keys/{key}/import-parameters."""

    def read(data: JSON, request_id: str) -> RemoteImportParameters:
        return decode.import_parameters(data, request_id, key_id)

    body: dict[str, Any] = {"wrapping_algorithm": wrapping_algorithm}
    if wrapping_spec is not None:
        body["wrapping_spec"] = wrapping_spec
    return Call("POST", _key_path(key_id, "import-parameters"), _reader(read), body=body)


def import_key_material(
    key_id: str, *, import_token: str, encrypted_key_material: bytes
) -> Call[RemoteKeyInfo]:
    """POST /v1/kms/keys/{key}/import."""
    body = {
        "import_token": import_token,
        "encrypted_key_material": b64(as_bytes(encrypted_key_material, "encrypted_key_material")),
    }
    return _key_action(key_id, "import", body)


def import_public_key(
    public_key_pem: bytes | str,
    *,
    usage: str,
    alias: str | None,
    description: str | None,
) -> Call[RemoteKeyInfo]:
    """POST /v1/kms/keys/import-public."""
    pem = public_key_pem.decode("ascii") if isinstance(public_key_pem, bytes) else public_key_pem
    body: dict[str, Any] = {"public_key_pem": pem, "usage": usage}
    if alias is not None:
        body["alias"] = alias
    if description is not None:
        body["description"] = description
    return Call("POST", f"{_KEYS}/import-public", _reader(decode.key), body=body)


# -- access points ---------------------------------------------------------------------------


def create_access_point(
    name: str,
    *,
    keys: Sequence[str],
    operations: Sequence[str],
    description: str | None,
    days: int | None,
) -> Call[AccessPointCredentials]:
    """POST /v1/kms/access-points (admin only)."""
    body: dict[str, Any] = {"name": name, "keys": list(keys), "operations": list(operations)}
    if description is not None:
        body["description"] = description
    if days is not None:
        body["days"] = days
    return Call("POST", "/v1/kms/access-points", _reader(decode.access_point), body=body)
