"""MACs with HMAC keys: generate, and verify in constant time (a wrong MAC is False)."""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac

from certward.kms.checks import usable, version_of, within_limit
from certward.kms.keys import LoadedKey
from certward.kms.material import OpenedMaterial
from certward.kms.specs import KeyUsage, MacAlgorithm, mac_algorithm_for

__all__ = ["Mac", "MacCheck", "generate_mac", "verify_mac"]

_MAC_HASHES = {MacAlgorithm.HMAC_SHA_256: hashes.SHA256, MacAlgorithm.HMAC_SHA_512: hashes.SHA512}


@dataclass(frozen=True)
class Mac:
    key_id: str
    key_version: int
    algorithm: MacAlgorithm
    mac: bytes = field(repr=False)


@dataclass(frozen=True)
class MacCheck:
    key_id: str
    key_version: int
    algorithm: MacAlgorithm
    value: bool


def _mac(material: OpenedMaterial, algorithm: MacAlgorithm, message: bytes) -> hmac.HMAC:
    assert material.secret is not None
    tag = hmac.HMAC(material.secret, _MAC_HASHES[algorithm]())
    tag.update(message)
    return tag


def generate_mac(key: LoadedKey, *, message: bytes, algorithm: str, max_message_bytes: int) -> Mac:
    """The HMAC of ``message`` under the primary version."""
    usable(key, KeyUsage.GENERATE_VERIFY_MAC, "generate_mac")
    chosen = mac_algorithm_for(key.spec, algorithm)
    within_limit(len(message), max_message_bytes, hint="MAC a hash of the data instead")
    version = key.primary_version
    return Mac(key.key_id, version, chosen, _mac(key.material(version), chosen, message).finalize())


def verify_mac(
    key: LoadedKey,
    *,
    message: bytes,
    mac: bytes,
    algorithm: str,
    key_version: int | None = None,
    max_message_bytes: int,
) -> MacCheck:
    """Whether ``mac`` is the HMAC of ``message`` (compared in constant time)."""
    usable(key, KeyUsage.GENERATE_VERIFY_MAC, "verify_mac")
    chosen = mac_algorithm_for(key.spec, algorithm)
    within_limit(len(message), max_message_bytes, hint="MAC a hash of the data instead")
    version = version_of(key, key_version)
    tag = _mac(key.accepted_version(version), chosen, message)
    try:
        tag.verify(mac)
    except InvalidSignature:
        return MacCheck(key.key_id, version, chosen, False)
    return MacCheck(key.key_id, version, chosen, True)
