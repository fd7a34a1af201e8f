"""The cryptographic operations of the KMS on a loaded key, each naming the version it used.

One place to import them from: signing (:mod:`certward.kms.signing`), encryption
(:mod:`certward.kms.encryption`), MACs (:mod:`certward.kms.macs`), and here public
keys and random bytes. Every operation checks, in this order: the key's state
(KmsInvalidState), its usage (KmsIncorrectKeyUsage), the algorithm
(KmsUnsupportedAlgorithm), the input (InvalidInput, PayloadTooLarge), the version
(KmsVersionRetired); then it computes. None stores anything (a failed call changes
nothing) or does I/O, so the service runs the fast ones on its event loop (see
:func:`runs_long`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization

from certward.errors import InvalidInput, KmsIncorrectKeyUsage
from certward.kms.checks import version_of
from certward.kms.encryption import (
    DataKey,
    Decrypted,
    Encrypted,
    ReEncrypted,
    decrypt,
    decrypt_raw,
    encrypt,
    generate_data_key,
    is_raw_rsa_ciphertext,
    re_encrypt,
)
from certward.kms.keys import LoadedKey
from certward.kms.macs import Mac, MacCheck, generate_mac, verify_mac
from certward.kms.signing import Signature, Verification, sign, verify
from certward.kms.specs import KeySpec

__all__ = [
    "MAX_RANDOM_BYTES",
    "DataKey",
    "Decrypted",
    "Encrypted",
    "Mac",
    "MacCheck",
    "PublicKey",
    "ReEncrypted",
    "Signature",
    "Verification",
    "decrypt",
    "decrypt_raw",
    "encrypt",
    "generate_data_key",
    "generate_mac",
    "generate_random",
    "get_public_key",
    "is_raw_rsa_ciphertext",
    "re_encrypt",
    "runs_long",
    "sign",
    "verify",
    "verify_mac",
]

MAX_RANDOM_BYTES = 1024


@dataclass(frozen=True)
class PublicKey:
    key_id: str
    key_version: int
    spec: KeySpec
    public_key_pem: bytes


def runs_long(key: LoadedKey, operation: str) -> bool:
    """Whether ``operation`` with ``key`` costs milliseconds (RSA private-key work).

    The service runs these in a worker thread (cryptography releases the GIL for them)
    and everything else on its event loop.
    """
    return key.spec.is_rsa and operation in ("sign", "decrypt", "re_encrypt")


def get_public_key(key: LoadedKey, *, key_version: int | None = None) -> PublicKey:
    """The public key (PEM) of ``key_version`` (default: primary) of an asymmetric key."""
    key.require_enabled()
    if not key.spec.is_asymmetric:
        raise KmsIncorrectKeyUsage(f"key {key.key_id} is a symmetric {key.spec.value} key")
    version = version_of(key, key_version)
    public = key.material(version).public_key
    assert public is not None
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return PublicKey(key.key_id, version, key.spec, pem)


def generate_random(number_of_bytes: int) -> bytes:
    """``number_of_bytes`` (1-1024) from the operating system's CSPRNG."""
    if not 1 <= number_of_bytes <= MAX_RANDOM_BYTES:
        raise InvalidInput(f"number_of_bytes must be 1-{MAX_RANDOM_BYTES}")
    return os.urandom(number_of_bytes)
