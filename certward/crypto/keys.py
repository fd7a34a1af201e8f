"""Key types by certward's names, and private/public key (de)serialisation.

The names (``ec-p256``, ``rsa-3072``, ``ed25519``…) are what users type and what
profiles allow; everything else is pyca/cryptography.
"""

from __future__ import annotations

import enum
from typing import TypeAlias

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
)

from certward.errors import InvalidInput, KeyTypeNotAllowed, MalformedData, PasswordError

__all__ = [
    "MAX_PASSWORD_LENGTH",
    "KeyType",
    "SigningKey",
    "generate_private_key",
    "key_type_of",
    "load_private_key",
    "private_key_to_pkcs8",
    "public_key_to_pem",
    "signature_hash_for",
]

SigningKey: TypeAlias = CertificateIssuerPrivateKeyTypes

# Seed 000 caps key passwords at 100 characters; we apply it to every password we accept.
MAX_PASSWORD_LENGTH = 100


class KeyType(enum.StrEnum):
    """The key types certward generates and accepts."""

    EC_P256 = "ec-p256"
    EC_P384 = "ec-p384"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"
    ED25519 = "ed25519"

    @classmethod
    def parse(cls, value: str) -> KeyType:
        """The key type named ``value`` (case-insensitive), or InvalidInput listing the choices."""
        try:
            return cls(value.strip().lower())
        except ValueError:
            choices = ", ".join(member.value for member in cls)
            raise InvalidInput(f"unknown key type {value!r}; choose one of {choices}") from None


_RSA_BITS = {KeyType.RSA_2048: 2048, KeyType.RSA_3072: 3072, KeyType.RSA_4096: 4096}
_CURVES: dict[KeyType, ec.EllipticCurve] = {
    KeyType.EC_P256: ec.SECP256R1(),
    KeyType.EC_P384: ec.SECP384R1(),
}


def generate_private_key(key_type: KeyType) -> SigningKey:
    """A fresh private key of ``key_type``."""
    if key_type in _CURVES:
        return ec.generate_private_key(_CURVES[key_type])
    if key_type in _RSA_BITS:
        return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[key_type])
    return ed25519.Ed25519PrivateKey.generate()


def key_type_of(key: CertificatePublicKeyTypes | PrivateKeyTypes) -> KeyType:
    """The certward key type of a public or private key; KeyTypeNotAllowed for anything else."""
    public = key.public_key() if hasattr(key, "public_key") else key
    if isinstance(public, ec.EllipticCurvePublicKey):
        for key_type, curve in _CURVES.items():
            if public.curve.name == curve.name:
                return key_type
        raise KeyTypeNotAllowed(f"elliptic curve {public.curve.name} is not supported")
    if isinstance(public, rsa.RSAPublicKey):
        for key_type, bits in _RSA_BITS.items():
            if public.key_size == bits:
                return key_type
        raise KeyTypeNotAllowed(f"RSA key size {public.key_size} is not supported")
    if isinstance(public, ed25519.Ed25519PublicKey):
        return KeyType.ED25519
    raise KeyTypeNotAllowed(f"key algorithm {type(public).__name__} is not supported")


def signature_hash_for(key: SigningKey) -> hashes.SHA256 | hashes.SHA384 | None:
    """The hash a CA key signs with: SHA-384 for P-384, none for Ed25519, else SHA-256."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def _check_password(password: bytes | None) -> None:
    if password is not None and len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordError(f"password is longer than {MAX_PASSWORD_LENGTH} characters")


def _is_encrypted(data: bytes, *, is_pem: bool) -> bool:
    if is_pem:
        return b"ENCRYPTED" in data
    # DER carries no marker: an encrypted PKCS#8 key is one that asks for a password.
    try:
        serialization.load_der_private_key(data, password=None)
    except TypeError:
        return True
    except (ValueError, UnsupportedAlgorithm):
        return False
    return False


def load_private_key(data: bytes, *, password: bytes | None = None) -> SigningKey:
    """Parse a PEM or DER private key (PKCS#8, traditional, encrypted or not).

    Raises PasswordError for a missing or wrong password and MalformedData for
    anything that is not a key; neither message includes the password.
    """
    _check_password(password)
    is_pem = b"-----BEGIN" in data
    loader = serialization.load_pem_private_key if is_pem else serialization.load_der_private_key
    try:
        key = loader(data, password=password)
    except TypeError as exc:
        # cryptography raises TypeError both for "password missing" and "password given
        # for an unencrypted key"; say which without echoing anything secret.
        if password is None:
            raise PasswordError("the private key is encrypted: a password is required") from exc
        raise PasswordError("a password was given but the private key is not encrypted") from exc
    except ValueError as exc:
        if password is not None and _is_encrypted(data, is_pem=is_pem):
            raise PasswordError("wrong password for the private key") from exc
        raise MalformedData("the private key could not be parsed (not PEM or DER)") from exc
    except UnsupportedAlgorithm as exc:
        raise MalformedData("the private key uses an unsupported algorithm") from exc
    if not isinstance(
        key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise KeyTypeNotAllowed(f"private key algorithm {type(key).__name__} is not supported")
    return key


def private_key_to_pkcs8(
    key: PrivateKeyTypes, *, password: bytes | None = None, pem: bool = True
) -> bytes:
    """Serialise as PKCS#8 (PEM by default), encrypted with ``password`` when given."""
    _check_password(password)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    encoding = serialization.Encoding.PEM if pem else serialization.Encoding.DER
    return key.private_bytes(encoding, serialization.PrivateFormat.PKCS8, encryption)


def public_key_to_pem(key: CertificatePublicKeyTypes) -> bytes:
    """SubjectPublicKeyInfo PEM of a public key."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
