"""Encrypting and decrypting with a loaded key: the ciphertext blob, data keys, re-encryption.

AES keys encrypt with AES-256-GCM, RSA keys with RSAES-OAEP-SHA256; both into the
blob of :mod:`certward.kms.ciphertext`, bound to its header and encryption context.
Every failure to open a blob says the same thing (no oracle).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from certward.errors import InvalidInput, KmsInvalidCiphertext
from certward.kms.checks import not_public_only, usable, version_of, within_limit
from certward.kms.ciphertext import (
    INVALID_CIPHERTEXT,
    NONCE_BYTES,
    Ciphertext,
    associated_data,
    check_context,
)
from certward.kms.keys import LoadedKey
from certward.kms.specs import (
    DATA_KEY_BYTES,
    DataKeySpec,
    EncryptionAlgorithm,
    KeySpec,
    KeyUsage,
    default_encryption_algorithm,
    parse_choice,
)

__all__ = [
    "MAX_DATA_KEY_BYTES",
    "DataKey",
    "Decrypted",
    "Encrypted",
    "ReEncrypted",
    "decrypt",
    "decrypt_raw",
    "encrypt",
    "generate_data_key",
    "is_raw_rsa_ciphertext",
    "re_encrypt",
]

MAX_DATA_KEY_BYTES = 1024
_OAEP_OVERHEAD = 2 * hashes.SHA256.digest_size + 2


@dataclass(frozen=True)
class Encrypted:
    key_id: str
    key_version: int
    algorithm: EncryptionAlgorithm
    ciphertext: bytes


@dataclass(frozen=True)
class Decrypted:
    key_id: str
    key_version: int
    algorithm: EncryptionAlgorithm
    plaintext: bytes = field(repr=False)


@dataclass(frozen=True)
class DataKey:
    key_id: str
    key_version: int
    ciphertext: bytes
    plaintext: bytes | None = field(repr=False)


@dataclass(frozen=True)
class ReEncrypted:
    source_key_id: str
    source_key_version: int
    key_id: str
    key_version: int
    ciphertext: bytes


def _seal(
    key: LoadedKey,
    algorithm: EncryptionAlgorithm,
    plaintext: bytes,
    context: Mapping[str, str] | None,
) -> Encrypted:
    context = check_context(context)
    version = key.primary_version
    material = key.material(version)
    header = Ciphertext.header_for(algorithm, key.key_id, version)
    aad = associated_data(header, context)
    if algorithm is EncryptionAlgorithm.AES_256_GCM:
        assert material.aead is not None
        nonce = os.urandom(NONCE_BYTES)
        payload = nonce + material.aead.encrypt(nonce, plaintext, aad)
    else:
        public = material.public_key
        assert isinstance(public, rsa.RSAPublicKey)
        room = public.key_size // 8 - _OAEP_OVERHEAD
        if len(plaintext) > room:
            raise InvalidInput(
                f"{key.spec.value} keys encrypt at most {room} bytes with RSAES_OAEP_SHA_256; "
                "encrypt larger data under a data key"
            )
        payload = public.encrypt(plaintext, _oaep(aad))
    return Encrypted(key.key_id, version, algorithm, header + payload)


def _encrypt_with(
    key: LoadedKey, plaintext: bytes, context: Mapping[str, str] | None, operation: str
) -> Encrypted:
    usable(key, KeyUsage.ENCRYPT_DECRYPT, operation)
    return _seal(key, default_encryption_algorithm(key.spec, None), plaintext, context)


def _oaep(label: bytes | None) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label)


def encrypt(
    key: LoadedKey,
    *,
    plaintext: bytes,
    context: Mapping[str, str] | None = None,
    algorithm: str | None = None,
    max_message_bytes: int,
) -> Encrypted:
    """Encrypt with the primary version into a ciphertext blob bound to ``context``."""
    usable(key, KeyUsage.ENCRYPT_DECRYPT, "encrypt")
    chosen = default_encryption_algorithm(key.spec, algorithm)
    within_limit(
        len(plaintext),
        max_message_bytes,
        hint="encrypt larger data locally under a data key (generate-data-key)",
    )
    return _seal(key, chosen, plaintext, context)


def decrypt(
    key: LoadedKey, ciphertext: Ciphertext, *, context: Mapping[str, str] | None = None
) -> Decrypted:
    """Open a blob made by ``key`` (the caller found the key by ``ciphertext.key_id``)."""
    if ciphertext.key_id != key.key_id:
        raise InvalidInput(
            f"the ciphertext was made with key {ciphertext.key_id}, not with {key.key_id}"
        )
    usable(key, KeyUsage.ENCRYPT_DECRYPT, "decrypt")
    not_public_only(key, "decrypt")
    context = check_context(context)
    if ciphertext.algorithm is not default_encryption_algorithm(key.spec, None):
        raise KmsInvalidCiphertext(INVALID_CIPHERTEXT)
    if not key.has_version(ciphertext.version):
        raise KmsInvalidCiphertext(INVALID_CIPHERTEXT)
    material = key.accepted_version(ciphertext.version)
    aad = associated_data(ciphertext.header, context)
    try:
        if ciphertext.algorithm is EncryptionAlgorithm.AES_256_GCM:
            assert material.aead is not None
            nonce, sealed = ciphertext.payload[:NONCE_BYTES], ciphertext.payload[NONCE_BYTES:]
            plaintext = material.aead.decrypt(nonce, sealed, aad)
        else:
            assert isinstance(material.private_key, rsa.RSAPrivateKey)
            plaintext = material.private_key.decrypt(ciphertext.payload, _oaep(aad))
    except (InvalidTag, ValueError):
        raise KmsInvalidCiphertext(INVALID_CIPHERTEXT) from None
    return Decrypted(key.key_id, ciphertext.version, ciphertext.algorithm, plaintext)


def is_raw_rsa_ciphertext(key: LoadedKey, data: bytes) -> bool:
    """Whether ``data`` is a bare RSAES-OAEP ciphertext for ``key`` (exactly the modulus size)."""
    if not key.spec.is_rsa:
        return False
    bits = {KeySpec.RSA_2048: 2048, KeySpec.RSA_3072: 3072, KeySpec.RSA_4096: 4096}[key.spec]
    return len(data) == bits // 8


def decrypt_raw(key: LoadedKey, data: bytes, *, key_version: int | None = None) -> Decrypted:
    """Open a bare RSAES-OAEP-SHA256 ciphertext made offline with the key's public key."""
    usable(key, KeyUsage.ENCRYPT_DECRYPT, "decrypt")
    not_public_only(key, "decrypt")
    if not key.spec.is_rsa:
        raise KmsInvalidCiphertext(INVALID_CIPHERTEXT)
    version = version_of(key, key_version)
    material = key.accepted_version(version)
    assert isinstance(material.private_key, rsa.RSAPrivateKey)
    try:
        plaintext = material.private_key.decrypt(data, _oaep(None))
    except ValueError:
        raise KmsInvalidCiphertext(INVALID_CIPHERTEXT) from None
    return Decrypted(key.key_id, version, EncryptionAlgorithm.RSAES_OAEP_SHA_256, plaintext)


def generate_data_key(
    key: LoadedKey,
    *,
    key_spec: str | None = None,
    number_of_bytes: int | None = None,
    context: Mapping[str, str] | None = None,
    include_plaintext: bool = True,
) -> DataKey:
    """A fresh random data key (AES_256 by default), wrapped under ``key``'s primary version."""
    usable(key, KeyUsage.ENCRYPT_DECRYPT, "generate_data_key")
    if key_spec is not None and number_of_bytes is not None:
        raise InvalidInput("give 'key_spec' or 'number_of_bytes', not both")
    if number_of_bytes is None:
        size = DATA_KEY_BYTES[parse_choice(DataKeySpec, key_spec or "AES_256", what="key_spec")]
    elif not 1 <= number_of_bytes <= MAX_DATA_KEY_BYTES:
        raise InvalidInput(f"number_of_bytes must be 1-{MAX_DATA_KEY_BYTES}")
    else:
        size = number_of_bytes
    plaintext = os.urandom(size)
    wrapped = _encrypt_with(key, plaintext, context, "generate_data_key")
    return DataKey(
        key.key_id,
        wrapped.key_version,
        wrapped.ciphertext,
        plaintext if include_plaintext else None,
    )


def re_encrypt(
    source: LoadedKey,
    ciphertext: Ciphertext,
    destination: LoadedKey,
    *,
    source_context: Mapping[str, str] | None = None,
    destination_context: Mapping[str, str] | None = None,
) -> ReEncrypted:
    """Decrypt under ``source`` and encrypt under ``destination``'s primary, in memory only."""
    usable(destination, KeyUsage.ENCRYPT_DECRYPT, "re_encrypt")
    opened = decrypt(source, ciphertext, context=source_context)
    moved = _encrypt_with(destination, opened.plaintext, destination_context, "re_encrypt")
    return ReEncrypted(
        source_key_id=source.key_id,
        source_key_version=opened.key_version,
        key_id=destination.key_id,
        key_version=moved.key_version,
        ciphertext=moved.ciphertext,
    )
