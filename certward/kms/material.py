"""Key material: made or imported, sealed at rest, opened once per process.

What is sealed is the secret itself: the raw bytes of an AES or HMAC key, the
PKCS#8 DER of a private key. Public keys are stored in clear (SubjectPublicKeyInfo
DER) next to it. Material never leaves this module except as an opened key object
the operations use in memory, and as public keys.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import TypeAlias

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from certward.errors import KmsImportInvalid
from certward.keystore import Keystore
from certward.kms.records import key_material_record_id
from certward.kms.specs import KeySpec

__all__ = [
    "KmsPrivateKey",
    "KmsPublicKey",
    "MaterialCache",
    "NewMaterial",
    "OpenedMaterial",
    "generate_material",
    "imported_material",
    "open_material",
    "public_key_der",
    "spec_of_public_key",
]

KmsPrivateKey: TypeAlias = (
    rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
)
KmsPublicKey: TypeAlias = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

_RSA_BITS = {KeySpec.RSA_2048: 2048, KeySpec.RSA_3072: 3072, KeySpec.RSA_4096: 4096}
_CURVES: dict[KeySpec, type[ec.EllipticCurve]] = {
    KeySpec.EC_P256: ec.SECP256R1,
    KeySpec.EC_P384: ec.SECP384R1,
    KeySpec.EC_SECP256K1: ec.SECP256K1,
}
# Bytes of generated secrets, and the lengths accepted on import (as the cloud KMSs do).
_SECRET_BYTES = {KeySpec.AES_256: 32, KeySpec.HMAC_256: 32, KeySpec.HMAC_512: 64}
_IMPORT_BYTES = {KeySpec.AES_256: (32, 32), KeySpec.HMAC_256: (32, 64), KeySpec.HMAC_512: (64, 128)}
# Opened keys kept per process; past this many, the cache starts over (bounded memory).
_MAX_OPENED = 10_000


@dataclass(frozen=True)
class NewMaterial:
    """Material about to be sealed: the secret (None for a public key only) and its public key."""

    secret: bytes | None = field(repr=False)
    public_der: bytes | None


@dataclass(frozen=True, eq=False)
class OpenedMaterial:
    """One key version, ready to use; exactly the fields its spec needs are set."""

    spec: KeySpec
    secret: bytes | None = field(default=None, repr=False)  # HMAC keys
    aead: AESGCM | None = field(default=None, repr=False)  # AES keys
    private_key: KmsPrivateKey | None = field(default=None, repr=False)
    public_key: KmsPublicKey | None = None


def public_key_der(key: KmsPublicKey) -> bytes:
    """SubjectPublicKeyInfo DER of a public key."""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _private_der(key: KmsPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _new_private_key(spec: KeySpec) -> KmsPrivateKey:
    if spec in _RSA_BITS:
        return rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[spec])
    if spec in _CURVES:
        return ec.generate_private_key(_CURVES[spec]())
    assert spec is KeySpec.ED25519
    return ed25519.Ed25519PrivateKey.generate()


def generate_material(spec: KeySpec) -> NewMaterial:
    """Fresh material for a key of ``spec`` (RSA takes long: call it off the event loop)."""
    if not spec.is_asymmetric:
        return NewMaterial(secret=os.urandom(_SECRET_BYTES[spec]), public_der=None)
    key = _new_private_key(spec)
    return NewMaterial(secret=_private_der(key), public_der=public_key_der(key.public_key()))


def spec_of_public_key(key: object) -> KeySpec:
    """The spec of a public key; KmsImportInvalid for a type or size the KMS does not hold."""
    if isinstance(key, rsa.RSAPublicKey):
        for spec, bits in _RSA_BITS.items():
            if key.key_size == bits:
                return spec
        raise KmsImportInvalid(f"RSA keys of {key.key_size} bits are not supported")
    if isinstance(key, ec.EllipticCurvePublicKey):
        for spec, curve in _CURVES.items():
            if isinstance(key.curve, curve):
                return spec
        raise KmsImportInvalid(f"elliptic curve {key.curve.name} is not supported")
    if isinstance(key, ed25519.Ed25519PublicKey):
        return KeySpec.ED25519
    raise KmsImportInvalid(f"{type(key).__name__} keys are not supported")


def imported_material(spec: KeySpec, data: bytes) -> NewMaterial:
    """Check unwrapped import material against the key's spec; KmsImportInvalid if it differs.

    Symmetric keys are raw bytes; private keys are PKCS#8 DER.
    """
    if not spec.is_asymmetric:
        low, high = _IMPORT_BYTES[spec]
        if not low <= len(data) <= high:
            wanted = f"{low}" if low == high else f"{low}-{high}"
            raise KmsImportInvalid(f"{spec.value} material is {wanted} bytes, not {len(data)}")
        return NewMaterial(secret=bytes(data), public_der=None)
    try:
        key = serialization.load_der_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise KmsImportInvalid(
            f"{spec.value} material must be an unencrypted PKCS#8 DER private key"
        ) from None
    found = spec_of_public_key(key.public_key())
    if found is not spec:
        raise KmsImportInvalid(f"the imported private key is {found.value}, not {spec.value}")
    assert isinstance(
        key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    )
    return NewMaterial(secret=_private_der(key), public_der=public_key_der(key.public_key()))


def _load_public(der: bytes) -> KmsPublicKey:
    key = serialization.load_der_public_key(der)
    assert isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey)
    return key


def open_material(
    keystore: Keystore,
    spec: KeySpec,
    *,
    record: str,
    sealed: bytes | None,
    public_der: bytes | None,
) -> OpenedMaterial:
    """Unseal one key version (``record`` is its ``key-<uuid>/<version>`` name)."""
    if sealed is None:
        assert public_der is not None  # a public-only key
        return OpenedMaterial(spec=spec, public_key=_load_public(public_der))
    secret = keystore.open(sealed, record_id=key_material_record_id(record))
    if spec is KeySpec.AES_256:
        return OpenedMaterial(spec=spec, aead=AESGCM(secret))
    if not spec.is_asymmetric:
        return OpenedMaterial(spec=spec, secret=secret)
    # Sealed material was checked when it was made or imported, and the seal proves it is
    # unchanged: RSA's expensive load-time validation would only repeat that check.
    key = serialization.load_der_private_key(
        secret, password=None, unsafe_skip_rsa_key_validation=True
    )
    assert isinstance(
        key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    )
    return OpenedMaterial(spec=spec, private_key=key, public_key=key.public_key())


class MaterialCache:
    """Opened key versions by record name; a version's material never changes once made."""

    def __init__(self, keystore: Keystore) -> None:
        self._keystore = keystore
        self._opened: dict[str, OpenedMaterial] = {}
        self._lock = threading.Lock()

    def get(
        self, spec: KeySpec, *, record: str, sealed: bytes | None, public_der: bytes | None
    ) -> OpenedMaterial:
        """The opened material of ``record`` (unsealed on first use)."""
        opened = self._opened.get(record)
        if opened is not None:
            return opened
        opened = open_material(
            self._keystore, spec, record=record, sealed=sealed, public_der=public_der
        )
        with self._lock:
            if len(self._opened) >= _MAX_OPENED:
                self._opened.clear()
            self._opened[record] = opened
        return opened

    def holds(self, record: str) -> bool:
        """Whether the material of ``record`` is open in this cache."""
        return record in self._opened

    def forget(self, key_id: str) -> None:
        """Drop every opened version of ``key_id`` (after the key was purged)."""
        prefix = f"{key_id}/"
        with self._lock:
            for record in [r for r in self._opened if r.startswith(prefix)]:
                del self._opened[record]
