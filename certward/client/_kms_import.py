"""Bring your own key: wrap key material for import, as the cloud KMSs define it.

``RSAES_OAEP_SHA_256`` encrypts the material itself with the wrapping public key
(enough for AES and HMAC keys); ``RSA_AES_KEY_WRAP_SHA_256`` encrypts a fresh
AES-256 key with RSA-OAEP-SHA-256 and wraps the material under it with AES key
wrap with padding (RFC 5649) — the only way to carry a private key (PKCS#8 DER).
"""

from __future__ import annotations

import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from certward.errors import InvalidInput, MalformedData
from certward.kms.byok import ImportParameters, WrappingAlgorithm

__all__ = ["wrap_key_material"]


def _oaep() -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def wrap_key_material(parameters: ImportParameters, material: bytes) -> bytes:
    """``material`` (raw AES/HMAC bytes, or a private key as PKCS#8 DER) wrapped for import."""
    try:
        wrapping_key = load_pem_public_key(parameters.public_key_pem)
    except ValueError:
        raise MalformedData("the wrapping public key does not parse") from None
    if not isinstance(wrapping_key, rsa.RSAPublicKey):
        raise MalformedData("the wrapping public key is not an RSA key")
    if parameters.wrapping_algorithm == WrappingAlgorithm.RSAES_OAEP_SHA_256:
        # OAEP-SHA-256 carries at most k - 2*32 - 2 bytes.
        limit = wrapping_key.key_size // 8 - 66
        if len(material) > limit:
            raise InvalidInput(
                f"{len(material)} bytes are too many for RSAES_OAEP_SHA_256 (at most {limit}); "
                "use RSA_AES_KEY_WRAP_SHA_256"
            )
        return wrapping_key.encrypt(material, _oaep())
    if parameters.wrapping_algorithm == WrappingAlgorithm.RSA_AES_KEY_WRAP_SHA_256:
        ephemeral = secrets.token_bytes(32)
        return wrapping_key.encrypt(ephemeral, _oaep()) + aes_key_wrap_with_padding(
            ephemeral, material
        )
    known = ", ".join(algorithm.value for algorithm in WrappingAlgorithm)
    raise InvalidInput(
        f"wrapping algorithm {parameters.wrapping_algorithm!r} is not one of {known}"
    )
