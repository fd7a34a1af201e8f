"""Envelope encryption: a fresh data key per record, wrapped by a master key (AES-256-GCM).

Blob format, version 1 (integers big-endian)::

    format         1   0x01
    master_key_id  4   which master key wrapped the data key
    wrap_nonce    12   random
    wrapped_key   48   AES-GCM(master, wrap_nonce, data_key, aad=wrap_aad) = 32 + 16-byte tag
    nonce         12   random
    ciphertext    n+16 AES-GCM(data_key, nonce, plaintext, aad=payload_aad)

    wrap_aad    = format | master_key_id | record_id (UTF-8)
    payload_aad = format | record_id (UTF-8)

Both layers carry the record id as associated data, so a blob copied to another
record does not open, and the wrap also binds the header (a blob whose key id
is edited does not open either). The payload's associated data leaves out the
master key id on purpose: re-wrapping under a new master key rewrites only the
first 77 bytes and keeps the payload byte for byte.

Nonces are random 96-bit values, so one master key should wrap at most 2**32
data keys (NIST SP 800-38D; the chance of a repeated wrap nonce then stays
below 2**-32). That is about 50 days of sealing at a sustained 1000 seals per
second: rotate the master key (``Keystore.add_master_key``) well before.
The data key is fresh per record, so the payload nonce never repeats under it.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from certward.errors import DecryptionFailed

__all__ = [
    "BLOB_FORMAT",
    "BLOB_OVERHEAD",
    "Envelope",
    "open_envelope",
    "parse_envelope",
    "rewrap_envelope",
    "seal_envelope",
    "unwrap_data_key",
]

BLOB_FORMAT = 1
_HEADER = struct.Struct(">BI")
_NONCE_SIZE = 12
_DATA_KEY_SIZE = 32
_TAG_SIZE = 16
_WRAPPED_KEY_SIZE = _DATA_KEY_SIZE + _TAG_SIZE
_WRAP_NONCE_AT = _HEADER.size
_WRAPPED_KEY_AT = _WRAP_NONCE_AT + _NONCE_SIZE
_NONCE_AT = _WRAPPED_KEY_AT + _WRAPPED_KEY_SIZE
_CIPHERTEXT_AT = _NONCE_AT + _NONCE_SIZE
BLOB_OVERHEAD = _CIPHERTEXT_AT + _TAG_SIZE
"""Bytes a sealed blob adds to its plaintext (93)."""
_MAX_KEY_ID = 2**32 - 1


@dataclass(frozen=True, slots=True)
class Envelope:
    """A parsed sealed blob; nothing in it is secret without a master key."""

    master_key_id: int
    wrap_nonce: bytes
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes

    def to_bytes(self) -> bytes:
        """The blob bytes of this envelope."""
        return _encode(
            self.master_key_id, self.wrap_nonce, self.wrapped_key, self.nonce, self.ciphertext
        )


def _encode(
    master_key_id: int, wrap_nonce: bytes, wrapped_key: bytes, nonce: bytes, ciphertext: bytes
) -> bytes:
    return b"".join(
        (_HEADER.pack(BLOB_FORMAT, master_key_id), wrap_nonce, wrapped_key, nonce, ciphertext)
    )


def _record_bytes(record_id: str) -> bytes:
    if not record_id:
        # An empty id would bind nothing; that is a bug in the caller, not bad data.
        raise ValueError("record_id must not be empty")
    return record_id.encode("utf-8")


def _wrap_aad(master_key_id: int, record: bytes) -> bytes:
    return _HEADER.pack(BLOB_FORMAT, master_key_id) + record


def _payload_aad(record: bytes) -> bytes:
    return bytes((BLOB_FORMAT,)) + record


def _not_opened(record_id: str, what: str) -> DecryptionFailed:
    return DecryptionFailed(f"sealed data of record {record_id!r} does not open: {what}")


def seal_envelope(plaintext: bytes, *, record_id: str, master_key_id: int, master: AESGCM) -> bytes:
    """Encrypt ``plaintext`` under a fresh data key and wrap that key with ``master``.

    Args:
        record_id: where the blob will be stored; it must be given again to open it.
        master_key_id: the id written into the blob so :func:`open_envelope` finds the key.
        master: the AESGCM object of that master key (cached by the caller).
    """
    if not 0 <= master_key_id <= _MAX_KEY_ID:
        raise ValueError(f"master key id {master_key_id} does not fit the blob format")
    record = _record_bytes(record_id)
    # One system call for all the randomness of a seal: this is the issuance hot path.
    randomness = os.urandom(_DATA_KEY_SIZE + 2 * _NONCE_SIZE)
    data_key = randomness[:_DATA_KEY_SIZE]
    wrap_nonce = randomness[_DATA_KEY_SIZE : _DATA_KEY_SIZE + _NONCE_SIZE]
    nonce = randomness[_DATA_KEY_SIZE + _NONCE_SIZE :]
    wrapped_key = master.encrypt(wrap_nonce, data_key, _wrap_aad(master_key_id, record))
    ciphertext = AESGCM(data_key).encrypt(nonce, plaintext, _payload_aad(record))
    return _encode(master_key_id, wrap_nonce, wrapped_key, nonce, ciphertext)


def parse_envelope(blob: bytes, *, record_id: str) -> Envelope:
    """Split a blob into its fields; :class:`DecryptionFailed` if it cannot be one.

    Args:
        record_id: only to name the record in the error message.
    """
    if len(blob) < BLOB_OVERHEAD:
        raise _not_opened(
            record_id, f"the blob is truncated ({len(blob)} bytes, at least {BLOB_OVERHEAD})"
        )
    blob_format, master_key_id = _HEADER.unpack_from(blob)
    if blob_format != BLOB_FORMAT:
        raise _not_opened(record_id, f"unknown blob format {blob_format}")
    return Envelope(
        master_key_id=master_key_id,
        wrap_nonce=blob[_WRAP_NONCE_AT:_WRAPPED_KEY_AT],
        wrapped_key=blob[_WRAPPED_KEY_AT:_NONCE_AT],
        nonce=blob[_NONCE_AT:_CIPHERTEXT_AT],
        ciphertext=blob[_CIPHERTEXT_AT:],
    )


def unwrap_data_key(envelope: Envelope, *, record_id: str, master: AESGCM) -> bytes:
    """The data key of ``envelope``, unwrapped with ``master`` (the key its id names)."""
    try:
        return master.decrypt(
            envelope.wrap_nonce,
            envelope.wrapped_key,
            _wrap_aad(envelope.master_key_id, _record_bytes(record_id)),
        )
    except InvalidTag:
        # No detail can be given: GCM does not say whether the key, the record
        # id or the bytes are wrong, and guessing would mislead.
        raise _not_opened(
            record_id, "wrong record id, damaged blob or a different master key"
        ) from None


def open_envelope(envelope: Envelope, *, record_id: str, master: AESGCM) -> bytes:
    """Decrypt ``envelope`` sealed for ``record_id``; :class:`DecryptionFailed` on any mismatch."""
    data_key = unwrap_data_key(envelope, record_id=record_id, master=master)
    try:
        return AESGCM(data_key).decrypt(
            envelope.nonce, envelope.ciphertext, _payload_aad(_record_bytes(record_id))
        )
    except InvalidTag:
        raise _not_opened(
            record_id, "the payload is damaged or belongs to another record"
        ) from None


def rewrap_envelope(
    envelope: Envelope,
    *,
    record_id: str,
    master: AESGCM,
    new_master_key_id: int,
    new_master: AESGCM,
) -> bytes:
    """The same blob with its data key wrapped by ``new_master``; the payload is unchanged.

    Args:
        master: the master key ``envelope`` names now.
        new_master_key_id: the id of ``new_master``, written into the new blob.
    """
    data_key = unwrap_data_key(envelope, record_id=record_id, master=master)
    wrap_nonce = os.urandom(_NONCE_SIZE)
    wrapped_key = new_master.encrypt(
        wrap_nonce, data_key, _wrap_aad(new_master_key_id, _record_bytes(record_id))
    )
    return _encode(new_master_key_id, wrap_nonce, wrapped_key, envelope.nonce, envelope.ciphertext)
