"""The KMS operations on request bodies: decode the base64 fields, call, encode the result.

Shared by the single-operation routes and the batch, so an item of a batch behaves
exactly like the same call made alone.
"""

from __future__ import annotations

from typing import Any

from certward.kms import operations
from certward.kms.ciphertext import parse_ciphertext
from certward.kms.keys import LoadedKey
from certward.server.key_use import b64, from_b64, optional_b64
from certward.server.kms_schemas import EncryptIn, SignIn, VerifyIn

__all__ = [
    "decrypt_blob",
    "decrypt_fields",
    "encrypt",
    "encrypt_fields",
    "sign",
    "sign_fields",
    "verify",
    "verify_fields",
]


def sign(key: LoadedKey, body: SignIn, limit: int) -> operations.Signature:
    """Sign as ``body`` asks (message or digest)."""
    return operations.sign(
        key,
        algorithm=body.algorithm,
        message=optional_b64(body.message, "message"),
        digest=optional_b64(body.digest, "digest"),
        max_message_bytes=limit,
    )


def sign_fields(result: operations.Signature) -> dict[str, Any]:
    """The JSON fields of a signature."""
    return {
        "key_id": result.key_id,
        "key_version": result.key_version,
        "algorithm": result.algorithm.value,
        "signature": b64(result.signature),
    }


def verify(key: LoadedKey, body: VerifyIn, limit: int) -> operations.Verification:
    """Verify as ``body`` asks."""
    return operations.verify(
        key,
        algorithm=body.algorithm,
        signature=from_b64(body.signature, "signature"),
        message=optional_b64(body.message, "message"),
        digest=optional_b64(body.digest, "digest"),
        key_version=body.key_version,
        max_message_bytes=limit,
    )


def verify_fields(result: operations.Verification) -> dict[str, Any]:
    """The JSON fields of a verification."""
    return {
        "key_id": result.key_id,
        "key_version": result.key_version,
        "algorithm": result.algorithm.value,
        "value": result.value,
    }


def encrypt(key: LoadedKey, body: EncryptIn, limit: int) -> operations.Encrypted:
    """Encrypt as ``body`` asks."""
    return operations.encrypt(
        key,
        plaintext=from_b64(body.plaintext, "plaintext"),
        context=body.context,
        algorithm=body.algorithm,
        max_message_bytes=limit,
    )


def encrypt_fields(result: operations.Encrypted) -> dict[str, Any]:
    """The JSON fields of a ciphertext."""
    return {
        "key_id": result.key_id,
        "key_version": result.key_version,
        "algorithm": result.algorithm.value,
        "ciphertext": b64(result.ciphertext),
    }


def decrypt_fields(result: operations.Decrypted) -> dict[str, Any]:
    """The JSON fields of a decryption."""
    return {
        "key_id": result.key_id,
        "key_version": result.key_version,
        "algorithm": result.algorithm.value,
        "plaintext": b64(result.plaintext),
    }


def decrypt_blob(
    key: LoadedKey, ciphertext: bytes, context: dict[str, str] | None
) -> operations.Decrypted:
    """Decrypt a ciphertext blob (bytes) under ``context``."""
    return operations.decrypt(key, parse_ciphertext(ciphertext), context=context)
