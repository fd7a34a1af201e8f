"""Sign or encrypt a message with a KDS key, the ident travelling with it.

The sender takes a :class:`~certward.kds.client.KeyDesc` from
``allocator.create_key_desc(group_uri)`` and calls :func:`sign` or :func:`encrypt`;
the receiver hands the envelope and its own allocator to :func:`verify` or
:func:`decrypt`, which read the ident, ask the KDS for the same key
(``create_key_desc(ident)``) and check the message.

Envelopes (self-describing; ``octets`` is the Limax size-prefixed byte string)::

    encrypted:  0x01 || octets(ident) || nonce (12) || AES-256-GCM ciphertext || tag (16)
    signed:     0x02 || octets(ident) || octets(message) || HMAC-SHA256 tag (32)

The first byte names the format and its version. A KDS key is a digest (20 to 64
bytes, by the server's algorithm), so each use gets its own 256-bit key:
HKDF-SHA256 of the KDS key, info ``certward-kds-aead`` for AES-GCM and
``certward-kds-mac`` for HMAC. The AEAD authenticates the header (format byte and
ident) and the caller's ``associated_data``, the HMAC covers everything before
the tag, so neither the ident nor the format can be swapped unnoticed.

Every refusal is an error a receiver must not trust the message after:
MalformedKeyIdent / UnsupportedURI / ServerRekeyed from the KDS, MalformedData for
an envelope that does not parse or a message that does not verify.
"""

from __future__ import annotations

import secrets
from typing import Protocol

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from certward.errors import MalformedData, MalformedKeyIdent
from certward.kds.client import KeyDesc
from certward.kds.codec import OctetsReader, OctetsWriter

__all__ = [
    "ENCRYPTED",
    "SIGNED",
    "KeySource",
    "decrypt",
    "encrypt",
    "ident_of",
    "sign",
    "verify",
]

ENCRYPTED = 0x01
SIGNED = 0x02
_NONCE_BYTES = 12
_TAG_BYTES = 32
_AEAD_INFO = b"certward-kds-aead"
_MAC_INFO = b"certward-kds-mac"


class KeySource(Protocol):
    """What a receiver needs: Limax's ``createKeyDesc(ident)`` (a KeyAllocator)."""

    def create_key_desc(self, target: str | bytes) -> KeyDesc:
        """The KeyDesc of a group URI or of a received ident."""
        ...


def _subkey(key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)


def _header(kind: int, ident: bytes) -> bytes:
    return bytes([kind]) + OctetsWriter().octets(ident).getvalue()


def _mac(key: bytes, data: bytes) -> hmac.HMAC:
    mac = hmac.HMAC(_subkey(key, _MAC_INFO), hashes.SHA256())
    mac.update(data)
    return mac


def encrypt(desc: KeyDesc, plaintext: bytes, *, associated_data: bytes = b"") -> bytes:
    """Encrypt ``plaintext`` with a sender's key; the envelope carries the ident.

    ``associated_data`` is authenticated, not sent: the receiver must pass the same.
    """
    header = _header(ENCRYPTED, desc.ident)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = AESGCM(_subkey(desc.key, _AEAD_INFO)).encrypt(
        nonce, plaintext, header + associated_data
    )
    return header + nonce + sealed


def sign(desc: KeyDesc, message: bytes) -> bytes:
    """``message`` with the ident and an HMAC-SHA256 tag made with a sender's key."""
    signed = _header(SIGNED, desc.ident) + OctetsWriter().octets(message).getvalue()
    return signed + _mac(desc.key, signed).finalize()


def _split(envelope: bytes, kind: int) -> tuple[bytes, OctetsReader]:
    if not envelope or envelope[0] != kind:
        wanted = "encrypted" if kind == ENCRYPTED else "signed"
        raise MalformedData(f"not a {wanted} KDS message (unknown format byte)")
    reader = OctetsReader(envelope[1:])
    try:
        ident = reader.octets()
    except MalformedKeyIdent:
        raise MalformedData("the KDS message is cut short in its ident") from None
    return ident, reader


def ident_of(envelope: bytes) -> bytes:
    """The ident an envelope carries (either format)."""
    kind = envelope[0] if envelope else -1
    if kind not in (ENCRYPTED, SIGNED):
        raise MalformedData("not a KDS message (unknown format byte)")
    return _split(envelope, kind)[0]


def decrypt(source: KeySource, envelope: bytes, *, associated_data: bytes = b"") -> bytes:
    """The plaintext of an :func:`encrypt` envelope, with the key the KDS gives its ident."""
    ident, reader = _split(envelope, ENCRYPTED)
    body_at = len(envelope) - reader.remaining()
    if reader.remaining() < _NONCE_BYTES + 16:
        raise MalformedData("the encrypted KDS message is cut short")
    desc = source.create_key_desc(ident)
    nonce = envelope[body_at : body_at + _NONCE_BYTES]
    try:
        return AESGCM(_subkey(desc.key, _AEAD_INFO)).decrypt(
            nonce, envelope[body_at + _NONCE_BYTES :], envelope[:body_at] + associated_data
        )
    except InvalidTag:
        raise MalformedData(
            "the encrypted KDS message does not verify: altered, or not made for this data"
        ) from None


def verify(source: KeySource, envelope: bytes) -> bytes:
    """The message of a :func:`sign` envelope once its tag verifies."""
    ident, reader = _split(envelope, SIGNED)
    try:
        message = reader.octets()
    except MalformedKeyIdent:
        raise MalformedData("the signed KDS message is cut short") from None
    if reader.remaining() != _TAG_BYTES:
        raise MalformedData(f"the signed KDS message must end with a {_TAG_BYTES}-byte tag")
    desc = source.create_key_desc(ident)
    signed_part = envelope[: len(envelope) - _TAG_BYTES]
    try:
        _mac(desc.key, signed_part).verify(envelope[-_TAG_BYTES:])
    except InvalidSignature:
        raise MalformedData("the signed KDS message does not verify: altered") from None
    return message
