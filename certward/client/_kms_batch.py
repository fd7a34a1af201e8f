"""The items a KMS batch carries: one frozen value per operation, each knowing its wire form.

``client.batch([SignItem("alias/app", message=b"a", algorithm="ECDSA_SHA_256"), ...])``
sends them in one request; the server authorises, runs and audits each on its own.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from certward.errors import InvalidInput

__all__ = [
    "BatchItem",
    "DecryptItem",
    "EncryptItem",
    "SignItem",
    "VerifyItem",
    "as_bytes",
    "b64",
    "context_field",
    "message_or_digest",
]


def b64(data: bytes) -> str:
    """Bytes as standard base64 text (the API's form of every binary value)."""
    return base64.b64encode(data).decode("ascii")


def as_bytes(value: bytes | str, what: str) -> bytes:
    """``value`` as bytes (a str as UTF-8); InvalidInput for anything else."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise InvalidInput(f"{what} must be bytes or str, not {type(value).__name__}")


def message_or_digest(message: bytes | str | None, digest: bytes | None) -> dict[str, str]:
    """The ``message`` or ``digest`` field of a sign/verify body (exactly one of them)."""
    if (message is None) == (digest is None):
        raise InvalidInput("give exactly one of message= and digest=")
    if message is not None:
        return {"message": b64(as_bytes(message, "message"))}
    assert digest is not None
    return {"digest": b64(as_bytes(digest, "digest"))}


def context_field(context: Mapping[str, str] | None, name: str = "context") -> dict[str, Any]:
    """``{name: context}`` for a body, or nothing when there is no context."""
    if not context:
        return {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in context.items()):
        raise InvalidInput("an encryption context maps strings to strings")
    return {name: dict(context)}


@dataclass(frozen=True)
class SignItem:
    """Sign ``message`` (or a pre-computed ``digest``) with ``key_id``."""

    operation: ClassVar[str] = "sign"
    key_id: str
    algorithm: str
    message: bytes | str | None = field(default=None, repr=False)
    digest: bytes | None = None

    def body(self) -> dict[str, Any]:
        """The fields of this operation on the wire."""
        return {"algorithm": self.algorithm, **message_or_digest(self.message, self.digest)}


@dataclass(frozen=True)
class VerifyItem:
    """Verify ``signature`` over ``message`` (or ``digest``) with ``key_id``."""

    operation: ClassVar[str] = "verify"
    key_id: str
    algorithm: str
    signature: bytes
    message: bytes | str | None = field(default=None, repr=False)
    digest: bytes | None = None
    key_version: int | None = None

    def body(self) -> dict[str, Any]:
        """The fields of this operation on the wire."""
        body: dict[str, Any] = {
            "algorithm": self.algorithm,
            "signature": b64(as_bytes(self.signature, "signature")),
            **message_or_digest(self.message, self.digest),
        }
        if self.key_version is not None:
            body["key_version"] = self.key_version
        return body


@dataclass(frozen=True)
class EncryptItem:
    """Encrypt ``plaintext`` under ``key_id`` (bound to ``context``, if any)."""

    operation: ClassVar[str] = "encrypt"
    key_id: str
    plaintext: bytes | str = field(repr=False)
    context: Mapping[str, str] | None = field(default=None, hash=False)
    algorithm: str | None = None

    def body(self) -> dict[str, Any]:
        """The fields of this operation on the wire."""
        body: dict[str, Any] = {"plaintext": b64(as_bytes(self.plaintext, "plaintext"))}
        body.update(context_field(self.context))
        if self.algorithm is not None:
            body["algorithm"] = self.algorithm
        return body


@dataclass(frozen=True)
class DecryptItem:
    """Decrypt a ciphertext blob made by ``encrypt`` (``key_id`` must be the blob's key)."""

    operation: ClassVar[str] = "decrypt"
    key_id: str
    ciphertext: bytes
    context: Mapping[str, str] | None = field(default=None, hash=False)

    def body(self) -> dict[str, Any]:
        """The fields of this operation on the wire."""
        body: dict[str, Any] = {"ciphertext": b64(as_bytes(self.ciphertext, "ciphertext"))}
        body.update(context_field(self.context))
        return body


BatchItem = SignItem | VerifyItem | EncryptItem | DecryptItem
