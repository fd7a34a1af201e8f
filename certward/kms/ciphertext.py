"""The ciphertext blob: self-describing, versioned, bound to its header and context.

    b"CWK1" | u8 algorithm (1 AES_256_GCM, 2 RSAES_OAEP_SHA_256) | u8 len(key_id) | key_id
    | u32 BE version | AES: 12-byte nonce, ciphertext || 16-byte tag   RSA: the OAEP bytes

The associated data is the header (magic .. version) followed by the canonical JSON
of the encryption context (sorted keys, no spaces, UTF-8; ``{}`` without one). For
RSA blobs the same bytes are the OAEP label. So a changed header byte, a changed
context or a changed ciphertext byte all fail the same way, with the same message.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from certward.errors import InvalidInput, KmsInvalidCiphertext
from certward.kms.specs import EncryptionAlgorithm

__all__ = [
    "INVALID_CIPHERTEXT",
    "MAX_CONTEXT_BYTES",
    "Ciphertext",
    "associated_data",
    "check_context",
    "parse_ciphertext",
]

MAGIC = b"CWK1"
NONCE_BYTES = 12
TAG_BYTES = 16
MAX_CONTEXT_BYTES = 8192
# One message for every way a ciphertext can fail to open: no oracle for what was wrong.
INVALID_CIPHERTEXT = (
    "the ciphertext cannot be decrypted: it is damaged, or was made with another key or "
    "another encryption context"
)
_ALGORITHM_IDS = {EncryptionAlgorithm.AES_256_GCM: 1, EncryptionAlgorithm.RSAES_OAEP_SHA_256: 2}
_ALGORITHMS = {number: algorithm for algorithm, number in _ALGORITHM_IDS.items()}
_VERSION = struct.Struct(">I")


@dataclass(frozen=True)
class Ciphertext:
    """A parsed blob: which key version made it, and its payload."""

    algorithm: EncryptionAlgorithm
    key_id: str
    version: int
    header: bytes
    payload: bytes  # AES: nonce || ciphertext || tag; RSA: the OAEP ciphertext

    @classmethod
    def header_for(cls, algorithm: EncryptionAlgorithm, key_id: str, version: int) -> bytes:
        """The header bytes of a blob made by ``key_id`` version ``version``."""
        encoded = key_id.encode("ascii")
        return (
            MAGIC
            + bytes((_ALGORITHM_IDS[algorithm], len(encoded)))
            + encoded
            + _VERSION.pack(version)
        )

    def to_bytes(self) -> bytes:
        """The blob."""
        return self.header + self.payload


def check_context(context: Mapping[str, str] | None) -> dict[str, str]:
    """The encryption context as a plain dict of strings; InvalidInput if it is not one."""
    if context is None:
        return {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in context.items()):
        raise InvalidInput("the encryption context must map strings to strings")
    checked = dict(context)
    if len(_canonical(checked)) > MAX_CONTEXT_BYTES:
        raise InvalidInput(f"the encryption context is larger than {MAX_CONTEXT_BYTES} bytes")
    return checked


def _canonical(context: Mapping[str, str]) -> bytes:
    return json.dumps(
        dict(context), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def associated_data(header: bytes, context: Mapping[str, str] | None) -> bytes:
    """What the AEAD tag (or the OAEP label) binds: the header, then the canonical context."""
    return header + _canonical(context or {})


def parse_ciphertext(blob: bytes) -> Ciphertext:
    """The parts of a blob; KmsInvalidCiphertext for anything that is not one."""
    if len(blob) < len(MAGIC) + 2 or not blob.startswith(MAGIC):
        raise KmsInvalidCiphertext(INVALID_CIPHERTEXT)
    algorithm = _ALGORITHMS.get(blob[4])
    id_length = blob[5]
    start = len(MAGIC) + 2
    end = start + id_length + _VERSION.size
    if algorithm is None or id_length == 0 or len(blob) < end:
        raise KmsInvalidCiphertext(INVALID_CIPHERTEXT)
    try:
        key_id = blob[start : start + id_length].decode("ascii")
    except UnicodeDecodeError:
        raise KmsInvalidCiphertext(INVALID_CIPHERTEXT) from None
    (version,) = _VERSION.unpack_from(blob, start + id_length)
    payload = blob[end:]
    minimum = NONCE_BYTES + TAG_BYTES if algorithm is EncryptionAlgorithm.AES_256_GCM else 1
    if version == 0 or len(payload) < minimum:
        raise KmsInvalidCiphertext(INVALID_CIPHERTEXT)
    return Ciphertext(
        algorithm=algorithm, key_id=key_id, version=version, header=blob[:end], payload=payload
    )
