"""Signing and verifying with a loaded key; a wrong signature verifies as False.

RSA-PSS salts are as long as the digest (as the cloud KMSs make them, and as
``openssl dgst -sigopt rsa_pss_saltlen:32`` expects for SHA-256); ECDSA signatures
are DER; Ed25519 signs the message itself. A message can be replaced by its digest
(except for Ed25519) when it is larger than ``[kms].max_message_bytes``.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

from certward.errors import InvalidInput
from certward.kms.checks import not_public_only, usable, version_of, within_limit
from certward.kms.keys import LoadedKey
from certward.kms.material import OpenedMaterial
from certward.kms.specs import (
    KeyUsage,
    SigningAlgorithm,
    SigningScheme,
    hash_length,
    signing_scheme,
)

__all__ = ["Signature", "Verification", "sign", "verify"]


@dataclass(frozen=True)
class Signature:
    key_id: str
    key_version: int
    algorithm: SigningAlgorithm
    signature: bytes


@dataclass(frozen=True)
class Verification:
    key_id: str
    key_version: int
    algorithm: SigningAlgorithm
    value: bool


def _signing_input(
    scheme: SigningScheme, message: bytes | None, digest: bytes | None, limit: int
) -> tuple[bytes, bool]:
    """The bytes to sign and whether they are a digest already."""
    if (message is None) == (digest is None):
        raise InvalidInput("give exactly one of 'message' and 'digest'")
    if message is not None:
        hint = (
            "Ed25519 signs whole messages only: keep messages small"
            if scheme.hash is None
            else "sign its digest instead ('digest', the hash the algorithm names)"
        )
        within_limit(len(message), limit, hint=hint)
        return message, False
    assert digest is not None
    if scheme.hash is None:
        raise InvalidInput("ED25519 signs the message itself; it has no digest mode")
    if len(digest) != hash_length(scheme):
        raise InvalidInput(
            f"a {scheme.hash.name.upper()} digest is {hash_length(scheme)} bytes, not {len(digest)}"
        )
    return digest, True


def _hash_arg(scheme: SigningScheme, prehashed: bool) -> hashes.HashAlgorithm | utils.Prehashed:
    assert scheme.hash is not None
    return utils.Prehashed(scheme.hash) if prehashed else scheme.hash


# ECDSA parameters by (hash class, prehashed): immutable, and made per signature they
# cost a tenth of one, so each is made once.
_ECDSA: dict[tuple[type, bool], ec.ECDSA] = {}


def _ecdsa(scheme: SigningScheme, prehashed: bool) -> ec.ECDSA:
    key = (type(scheme.hash), prehashed)
    found = _ECDSA.get(key)
    if found is None:
        found = _ECDSA[key] = ec.ECDSA(_hash_arg(scheme, prehashed))
    return found


def _rsa_padding(scheme: SigningScheme) -> padding.AsymmetricPadding:
    if scheme.family == "pss":
        assert scheme.hash is not None
        # Salt as long as the digest, as the cloud KMSs and `openssl -sigopt
        # rsa_pss_saltlen:32` (for SHA-256) expect.
        return padding.PSS(mgf=padding.MGF1(scheme.hash), salt_length=hash_length(scheme))
    return padding.PKCS1v15()


def _sign_with(
    material: OpenedMaterial, scheme: SigningScheme, data: bytes, prehashed: bool
) -> bytes:
    key = material.private_key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, _ecdsa(scheme, prehashed))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, _rsa_padding(scheme), _hash_arg(scheme, prehashed))
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return key.sign(data)


def _verify_with(
    material: OpenedMaterial, scheme: SigningScheme, signature: bytes, data: bytes, prehashed: bool
) -> bool:
    key = material.public_key
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, _ecdsa(scheme, prehashed))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, data, _rsa_padding(scheme), _hash_arg(scheme, prehashed))
        else:
            assert isinstance(key, ed25519.Ed25519PublicKey)
            key.verify(signature, data)
    except (InvalidSignature, ValueError):
        return False
    return True


def sign(
    key: LoadedKey,
    *,
    algorithm: str,
    message: bytes | None = None,
    digest: bytes | None = None,
    max_message_bytes: int,
) -> Signature:
    """Sign ``message`` (or its precomputed ``digest``) with the primary version."""
    usable(key, KeyUsage.SIGN_VERIFY, "sign")
    not_public_only(key, "sign")
    chosen, scheme = signing_scheme(key.spec, algorithm)
    data, prehashed = _signing_input(scheme, message, digest, max_message_bytes)
    version = key.primary_version
    signature = _sign_with(key.material(version), scheme, data, prehashed)
    return Signature(key.key_id, version, chosen, signature)


def verify(
    key: LoadedKey,
    *,
    algorithm: str,
    signature: bytes,
    message: bytes | None = None,
    digest: bytes | None = None,
    key_version: int | None = None,
    max_message_bytes: int,
) -> Verification:
    """Whether ``signature`` holds for the message with ``key_version`` (default: primary)."""
    usable(key, KeyUsage.SIGN_VERIFY, "verify")
    chosen, scheme = signing_scheme(key.spec, algorithm)
    data, prehashed = _signing_input(scheme, message, digest, max_message_bytes)
    version = version_of(key, key_version)
    material = key.accepted_version(version)
    return Verification(
        key.key_id, version, chosen, _verify_with(material, scheme, signature, data, prehashed)
    )
