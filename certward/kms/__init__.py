"""Key management: named keys with versions for sign/verify, encrypt/decrypt, MAC and data keys.

Modules, one idea each: ``specs`` (names and what fits what), ``material`` (generate,
seal, open), ``keys`` (create, find, describe, load), ``aliases``, ``lifecycle``
(enable, disable, settings, deletion), ``rotation``, ``byok`` (imports),
``ciphertext`` (the blob), ``operations`` (the cryptography), ``cache`` (keys ready
for use in a process), ``permissions``, ``usage`` (audit), ``access_points``,
``maintenance`` (scheduled rotation and purges).
"""

from certward.kms.keys import (
    KeyInfo,
    KeyPage,
    LoadedKey,
    create_key,
    describe_key,
    list_keys,
    load_key,
)
from certward.kms.specs import KeyOrigin, KeySpec, KeyState, KeyUsage

__all__ = [
    "KeyInfo",
    "KeyOrigin",
    "KeyPage",
    "KeySpec",
    "KeyState",
    "KeyUsage",
    "LoadedKey",
    "create_key",
    "describe_key",
    "list_keys",
    "load_key",
]
