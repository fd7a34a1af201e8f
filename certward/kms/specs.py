"""The names of the KMS: key specs, usages, states, origins and algorithms, and what fits what.

Every rule of the form "this algorithm works with that key" lives in the tables
here, so a new spec or algorithm is one row, not a change in every operation.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeVar

from cryptography.hazmat.primitives import hashes

from certward.errors import InvalidInput, KmsIncorrectKeyUsage, KmsUnsupportedAlgorithm

__all__ = [
    "DATA_KEY_BYTES",
    "KMS_OPERATIONS",
    "DataKeySpec",
    "EncryptionAlgorithm",
    "KeyOrigin",
    "KeySpec",
    "KeyState",
    "KeyUsage",
    "MacAlgorithm",
    "SigningAlgorithm",
    "SigningScheme",
    "check_usage",
    "default_encryption_algorithm",
    "encryption_algorithms",
    "hash_length",
    "mac_algorithm_for",
    "parse_choice",
    "require_usage",
    "signing_algorithms",
    "signing_scheme",
]


class KeySpec(enum.StrEnum):
    """What a key is: its type and size."""

    AES_256 = "AES_256"
    RSA_2048 = "RSA_2048"
    RSA_3072 = "RSA_3072"
    RSA_4096 = "RSA_4096"
    EC_P256 = "EC_P256"
    EC_P384 = "EC_P384"
    EC_SECP256K1 = "EC_SECP256K1"
    ED25519 = "ED25519"
    HMAC_256 = "HMAC_256"
    HMAC_512 = "HMAC_512"

    @property
    def is_rsa(self) -> bool:
        return self in _RSA_SPECS

    @property
    def is_asymmetric(self) -> bool:
        return self not in (KeySpec.AES_256, KeySpec.HMAC_256, KeySpec.HMAC_512)


class KeyUsage(enum.StrEnum):
    """What a key may be used for (fixed when the key is created)."""

    ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT"
    SIGN_VERIFY = "SIGN_VERIFY"
    GENERATE_VERIFY_MAC = "GENERATE_VERIFY_MAC"


class KeyOrigin(enum.StrEnum):
    """Where a key's material comes from."""

    CERTWARD = "CERTWARD"  # generated here
    EXTERNAL = "EXTERNAL"  # imported (bring your own key)
    PUBLIC_ONLY = "PUBLIC_ONLY"  # an imported public key: verify / encrypt only


class KeyState(enum.StrEnum):
    """The lifecycle state of a key; only Enabled keys are used."""

    ENABLED = "Enabled"
    DISABLED = "Disabled"
    PENDING_DELETION = "PendingDeletion"
    PENDING_IMPORT = "PendingImport"


class SigningAlgorithm(enum.StrEnum):
    RSA_PSS_SHA_256 = "RSA_PSS_SHA_256"
    RSA_PSS_SHA_384 = "RSA_PSS_SHA_384"
    RSA_PKCS1_SHA_256 = "RSA_PKCS1_SHA_256"
    RSA_PKCS1_SHA_384 = "RSA_PKCS1_SHA_384"
    ECDSA_SHA_256 = "ECDSA_SHA_256"
    ECDSA_SHA_384 = "ECDSA_SHA_384"
    ED25519 = "ED25519"


class EncryptionAlgorithm(enum.StrEnum):
    AES_256_GCM = "AES_256_GCM"
    RSAES_OAEP_SHA_256 = "RSAES_OAEP_SHA_256"


class MacAlgorithm(enum.StrEnum):
    HMAC_SHA_256 = "HMAC_SHA_256"
    HMAC_SHA_512 = "HMAC_SHA_512"


class DataKeySpec(enum.StrEnum):
    AES_256 = "AES_256"
    AES_128 = "AES_128"


DATA_KEY_BYTES = {DataKeySpec.AES_256: 32, DataKeySpec.AES_128: 16}

# The operations a kms.use grant names (``operations``), as the audit log names them.
KMS_OPERATIONS = (
    "sign",
    "verify",
    "encrypt",
    "decrypt",
    "generate_data_key",
    "re_encrypt",
    "generate_mac",
    "verify_mac",
    "get_public_key",
    "describe",
)

_RSA_SPECS = frozenset({KeySpec.RSA_2048, KeySpec.RSA_3072, KeySpec.RSA_4096})
_USAGES: dict[KeySpec, frozenset[KeyUsage]] = {
    KeySpec.AES_256: frozenset({KeyUsage.ENCRYPT_DECRYPT}),
    **dict.fromkeys(_RSA_SPECS, frozenset({KeyUsage.SIGN_VERIFY, KeyUsage.ENCRYPT_DECRYPT})),
    KeySpec.EC_P256: frozenset({KeyUsage.SIGN_VERIFY}),
    KeySpec.EC_P384: frozenset({KeyUsage.SIGN_VERIFY}),
    KeySpec.EC_SECP256K1: frozenset({KeyUsage.SIGN_VERIFY}),
    KeySpec.ED25519: frozenset({KeyUsage.SIGN_VERIFY}),
    KeySpec.HMAC_256: frozenset({KeyUsage.GENERATE_VERIFY_MAC}),
    KeySpec.HMAC_512: frozenset({KeyUsage.GENERATE_VERIFY_MAC}),
}
_RSA_SIGNING = (
    SigningAlgorithm.RSA_PSS_SHA_256,
    SigningAlgorithm.RSA_PSS_SHA_384,
    SigningAlgorithm.RSA_PKCS1_SHA_256,
    SigningAlgorithm.RSA_PKCS1_SHA_384,
)
# As the cloud KMSs do: each curve signs with the hash of its own strength.
_SIGNING: dict[KeySpec, tuple[SigningAlgorithm, ...]] = {
    **dict.fromkeys(_RSA_SPECS, _RSA_SIGNING),
    KeySpec.EC_P256: (SigningAlgorithm.ECDSA_SHA_256,),
    KeySpec.EC_P384: (SigningAlgorithm.ECDSA_SHA_384,),
    KeySpec.EC_SECP256K1: (SigningAlgorithm.ECDSA_SHA_256,),
    KeySpec.ED25519: (SigningAlgorithm.ED25519,),
}
_ENCRYPTION: dict[KeySpec, tuple[EncryptionAlgorithm, ...]] = {
    KeySpec.AES_256: (EncryptionAlgorithm.AES_256_GCM,),
    **dict.fromkeys(_RSA_SPECS, (EncryptionAlgorithm.RSAES_OAEP_SHA_256,)),
}
_MAC: dict[KeySpec, MacAlgorithm] = {
    KeySpec.HMAC_256: MacAlgorithm.HMAC_SHA_256,
    KeySpec.HMAC_512: MacAlgorithm.HMAC_SHA_512,
}


@dataclass(frozen=True)
class SigningScheme:
    """How a signing algorithm signs: its family and its hash (None for Ed25519)."""

    family: str  # "pss", "pkcs1", "ecdsa" or "eddsa"
    hash: hashes.SHA256 | hashes.SHA384 | None


_SCHEMES: dict[SigningAlgorithm, SigningScheme] = {
    SigningAlgorithm.RSA_PSS_SHA_256: SigningScheme("pss", hashes.SHA256()),
    SigningAlgorithm.RSA_PSS_SHA_384: SigningScheme("pss", hashes.SHA384()),
    SigningAlgorithm.RSA_PKCS1_SHA_256: SigningScheme("pkcs1", hashes.SHA256()),
    SigningAlgorithm.RSA_PKCS1_SHA_384: SigningScheme("pkcs1", hashes.SHA384()),
    SigningAlgorithm.ECDSA_SHA_256: SigningScheme("ecdsa", hashes.SHA256()),
    SigningAlgorithm.ECDSA_SHA_384: SigningScheme("ecdsa", hashes.SHA384()),
    SigningAlgorithm.ED25519: SigningScheme("eddsa", None),
}

E = TypeVar("E", bound=enum.StrEnum)


def parse_choice(kind: type[E], value: str, *, what: str) -> E:
    """``value`` as a member of ``kind``; InvalidInput naming the choices otherwise."""
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise InvalidInput(f"unknown {what} {value!r}; choose one of {choices}") from None


def _algorithm(kind: type[E], value: str) -> E:
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise KmsUnsupportedAlgorithm(
            f"unknown algorithm {value!r}; choose one of {choices}"
        ) from None


def check_usage(spec: KeySpec, usage: KeyUsage) -> None:
    """InvalidInput unless a key of ``spec`` may have ``usage``."""
    allowed = _USAGES[spec]
    if usage not in allowed:
        names = " or ".join(sorted(u.value for u in allowed))
        raise InvalidInput(f"{spec.value} keys are for {names}, not {usage.value}")


def signing_algorithms(spec: KeySpec) -> tuple[SigningAlgorithm, ...]:
    """The signing algorithms a key of ``spec`` supports (empty for symmetric keys)."""
    return _SIGNING.get(spec, ())


def encryption_algorithms(spec: KeySpec) -> tuple[EncryptionAlgorithm, ...]:
    """The encryption algorithms a key of ``spec`` supports."""
    return _ENCRYPTION.get(spec, ())


def signing_scheme(spec: KeySpec, algorithm: str) -> tuple[SigningAlgorithm, SigningScheme]:
    """The algorithm named ``algorithm`` and its scheme, if a ``spec`` key signs with it."""
    chosen = _algorithm(SigningAlgorithm, algorithm)
    allowed = signing_algorithms(spec)
    if chosen not in allowed:
        raise KmsUnsupportedAlgorithm(
            f"{spec.value} keys do not sign with {chosen.value}; they support "
            f"{', '.join(a.value for a in allowed)}"
        )
    return chosen, _SCHEMES[chosen]


def default_encryption_algorithm(spec: KeySpec, algorithm: str | None) -> EncryptionAlgorithm:
    """The encryption algorithm to use with a ``spec`` key (its only one when not named)."""
    allowed = encryption_algorithms(spec)
    if algorithm is None:
        return allowed[0]
    chosen = _algorithm(EncryptionAlgorithm, algorithm)
    if chosen not in allowed:
        raise KmsUnsupportedAlgorithm(
            f"{spec.value} keys do not encrypt with {chosen.value}; they support "
            f"{', '.join(a.value for a in allowed)}"
        )
    return chosen


def mac_algorithm_for(spec: KeySpec, algorithm: str) -> MacAlgorithm:
    """The MAC algorithm named ``algorithm``, if a ``spec`` key computes it."""
    chosen = _algorithm(MacAlgorithm, algorithm)
    if _MAC.get(spec) is not chosen:
        raise KmsUnsupportedAlgorithm(
            f"{spec.value} keys do not compute {chosen.value}; they compute {_MAC[spec].value}"
        )
    return chosen


def hash_length(scheme: SigningScheme) -> int:
    """Bytes of the scheme's digest (the salt length of RSA-PSS, the digest-mode input size)."""
    assert scheme.hash is not None
    return scheme.hash.digest_size


def require_usage(usage: KeyUsage, needed: KeyUsage, *, key_id: str, operation: str) -> None:
    """KmsIncorrectKeyUsage unless a key of ``usage`` may do ``operation``."""
    if usage is not needed:
        raise KmsIncorrectKeyUsage(
            f"key {key_id} has usage {usage.value}; {operation} needs a {needed.value} key"
        )
