"""The KMS API's JSON answers (``certward/server/kms_schemas.py``) as certward's values.

Each reader takes the parsed body and the request id of the exchange; binary fields
arrive as base64 and leave as bytes, names as the enums of :mod:`certward.kms.specs`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from certward.client import _decode as decode
from certward.client._kms_results import (
    AccessPointCredentials,
    BatchOutcome,
    BatchResult,
    BatchValue,
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
from certward.errors import CertwardError, error_class_for_code
from certward.kms.byok import WrappingAlgorithm, WrappingSpec
from certward.kms.keys import KeyInfo, KeyVersionInfo
from certward.kms.specs import (
    EncryptionAlgorithm,
    KeyOrigin,
    KeySpec,
    KeyState,
    KeyUsage,
    MacAlgorithm,
    SigningAlgorithm,
)

__all__ = [
    "access_point",
    "alias",
    "audit_page",
    "batch_result",
    "data_key",
    "decrypted",
    "encrypted",
    "import_parameters",
    "key",
    "key_info",
    "key_page",
    "mac",
    "mac_check",
    "public_key",
    "random_bytes",
    "re_encrypted",
    "signature",
    "verification",
]

JSON = Mapping[str, Any]


def _bytes(data: JSON, name: str) -> bytes:
    return base64.b64decode(data[name], validate=True)


def _value(data: JSON) -> bool:
    value = data["value"]
    if not isinstance(value, bool):
        raise TypeError("value is not a boolean")
    return value


def _key_fields(data: JSON) -> dict[str, Any]:
    return {
        "key_id": data["key_id"],
        "aliases": tuple(data["aliases"]),
        "spec": KeySpec(data["spec"]),
        "usage": KeyUsage(data["usage"]),
        "origin": KeyOrigin(data["origin"]),
        "state": KeyState(data["state"]),
        "description": data.get("description") or "",
        "tags": dict(data.get("tags") or {}),
        "primary_version": data.get("primary_version"),
        "versions": tuple(
            KeyVersionInfo(version=v["version"], created_at=decode.time(v["created_at"]))
            for v in data["versions"]
        ),
        "min_decryption_version": data.get("min_decryption_version"),
        "rotation_period_days": data.get("rotation_period_days"),
        "next_rotation_at": decode.time_or_none(data.get("next_rotation_at")),
        "deletion_date": decode.time_or_none(data.get("deletion_date")),
        "created_at": decode.time(data["created_at"]),
    }


def key_info(data: JSON) -> KeyInfo:
    """A ``Key`` object (an item of a page)."""
    return KeyInfo(**_key_fields(data))


def key(data: JSON, request_id: str) -> RemoteKeyInfo:
    """``KeyOut``."""
    return RemoteKeyInfo(**_key_fields(data), request_id=request_id)


def key_page(data: JSON, request_id: str) -> RemoteKeyPage:
    """``KeyPageOut``."""
    return RemoteKeyPage(
        items=tuple(key_info(item) for item in data["items"]),
        next_cursor=data.get("next_cursor"),
        request_id=request_id,
    )


def alias(data: JSON, request_id: str) -> RemoteAlias:
    """``AliasOut``."""
    return RemoteAlias(alias=data["alias"], key_id=data["key_id"], request_id=request_id)


def audit_page(data: JSON, request_id: str) -> RemoteAuditPage:
    """``KeyEventsOut``: the audit events of one key."""
    return RemoteAuditPage(
        items=tuple(decode.audit_event(item) for item in data["items"]),
        next_cursor=data.get("next_cursor"),
        request_id=request_id,
    )


def signature(data: JSON, request_id: str) -> RemoteSignature:
    """``SignOut``."""
    return RemoteSignature(
        key_id=data["key_id"],
        key_version=data["key_version"],
        algorithm=SigningAlgorithm(data["algorithm"]),
        signature=_bytes(data, "signature"),
        request_id=request_id,
    )


def verification(data: JSON, request_id: str) -> RemoteVerification:
    """``VerifyOut``."""
    return RemoteVerification(
        key_id=data["key_id"],
        key_version=data["key_version"],
        algorithm=SigningAlgorithm(data["algorithm"]),
        value=_value(data),
        request_id=request_id,
    )


def encrypted(data: JSON, request_id: str) -> RemoteEncrypted:
    """``EncryptOut``."""
    return RemoteEncrypted(
        key_id=data["key_id"],
        key_version=data["key_version"],
        algorithm=EncryptionAlgorithm(data["algorithm"]),
        ciphertext=_bytes(data, "ciphertext"),
        request_id=request_id,
    )


def decrypted(data: JSON, request_id: str) -> RemoteDecrypted:
    """``DecryptOut``."""
    return RemoteDecrypted(
        key_id=data["key_id"],
        key_version=data["key_version"],
        algorithm=EncryptionAlgorithm(data["algorithm"]),
        plaintext=_bytes(data, "plaintext"),
        request_id=request_id,
    )


def data_key(data: JSON, request_id: str) -> RemoteDataKey:
    """``DataKeyOut`` (``plaintext`` absent when it was not asked for)."""
    return RemoteDataKey(
        key_id=data["key_id"],
        key_version=data["key_version"],
        ciphertext=_bytes(data, "ciphertext"),
        plaintext=_bytes(data, "plaintext") if data.get("plaintext") is not None else None,
        request_id=request_id,
    )


def re_encrypted(data: JSON, request_id: str) -> RemoteReEncrypted:
    """``ReEncryptOut``."""
    return RemoteReEncrypted(
        source_key_id=data["source_key_id"],
        source_key_version=data["source_key_version"],
        key_id=data["key_id"],
        key_version=data["key_version"],
        ciphertext=_bytes(data, "ciphertext"),
        request_id=request_id,
    )


def mac(data: JSON, request_id: str) -> RemoteMac:
    """``MacOut``."""
    return RemoteMac(
        key_id=data["key_id"],
        key_version=data["key_version"],
        algorithm=MacAlgorithm(data["algorithm"]),
        mac=_bytes(data, "mac"),
        request_id=request_id,
    )


def mac_check(data: JSON, request_id: str) -> RemoteMacCheck:
    """``VerifyMacOut``."""
    return RemoteMacCheck(
        key_id=data["key_id"],
        key_version=data["key_version"],
        algorithm=MacAlgorithm(data["algorithm"]),
        value=_value(data),
        request_id=request_id,
    )


def public_key(data: JSON, request_id: str) -> RemotePublicKey:
    """``PublicKeyOut``."""
    return RemotePublicKey(
        key_id=data["key_id"],
        key_version=data["key_version"],
        spec=KeySpec(data["spec"]),
        public_key_pem=data["public_key_pem"].encode("ascii"),
        request_id=request_id,
    )


def random_bytes(data: JSON, request_id: str) -> RandomBytes:
    """``RandomOut``."""
    return RandomBytes(random=_bytes(data, "random"), request_id=request_id)


_ITEM_READERS: dict[str, Any] = {
    "sign": signature,
    "verify": verification,
    "encrypt": encrypted,
    "decrypt": decrypted,
}


def _item_error(detail: JSON, request_id: str) -> CertwardError:
    error = error_class_for_code(str(detail["code"]))(str(detail["message"]))
    error.request_id = request_id
    return error


def batch_result(data: JSON, request_id: str, operations: Sequence[str]) -> BatchResult:
    """``BatchOut``, each result read as the value of its item's ``operations`` entry."""
    results = data["results"]
    if len(results) != len(operations):
        raise ValueError(f"{len(results)} results for {len(operations)} items")
    outcomes: list[BatchOutcome[BatchValue]] = []
    for operation, result in zip(operations, results, strict=True):
        if result["ok"]:
            value: BatchValue = _ITEM_READERS[operation](result, request_id)
            outcomes.append(BatchOutcome(ok=True, value=value, error=None))
        else:
            error = _item_error(result["error"], request_id)
            outcomes.append(BatchOutcome(ok=False, value=None, error=error))
    return BatchResult(results=tuple(outcomes), request_id=request_id)


def _wrapping_spec(data: JSON, public_key_pem: bytes) -> WrappingSpec:
    if data.get("wrapping_spec"):
        return WrappingSpec(data["wrapping_spec"])
    public = load_pem_public_key(public_key_pem)
    if not isinstance(public, rsa.RSAPublicKey):
        raise TypeError("the wrapping key is not an RSA key")
    return WrappingSpec(f"RSA_{public.key_size}")


def import_parameters(data: JSON, request_id: str, key_id: str) -> RemoteImportParameters:
    """``ImportParametersOut`` (``key_id``: the key asked about, if the answer omits it)."""
    public_key_pem = data["public_key_pem"].encode("ascii")
    return RemoteImportParameters(
        key_id=data.get("key_id") or key_id,
        import_token=data["import_token"],
        public_key_pem=public_key_pem,
        wrapping_algorithm=WrappingAlgorithm(data["wrapping_algorithm"]),
        wrapping_spec=_wrapping_spec(data, public_key_pem),
        expires_at=decode.time(data["expires_at"]),
        request_id=request_id,
    )


def access_point(data: JSON, request_id: str) -> AccessPointCredentials:
    """``AccessPointOut``: the principal and its only credentials."""
    client_key = data["client_key"]
    return AccessPointCredentials(
        principal=decode.principal_info(data["principal"]),
        name=client_key["KeyId"],
        pkcs12=base64.b64decode(client_key["PrivateKeyData"], validate=True),
        password=data["password"],
        ca_pem=data["ca_pem"].encode("ascii"),
        request_id=request_id,
    )
