"""What every KMS operation checks before it computes: state, usage, size, version.

In this order, so the same bad call always gets the same error: the key's state
(KmsInvalidState), its usage (KmsIncorrectKeyUsage), then the operation's own
checks (algorithm, input size, version).
"""

from __future__ import annotations

from certward.errors import InvalidInput, KmsIncorrectKeyUsage, PayloadTooLarge
from certward.kms.keys import LoadedKey
from certward.kms.specs import KeyOrigin, KeyUsage, require_usage

__all__ = ["not_public_only", "usable", "version_of", "within_limit"]


def usable(key: LoadedKey, needed: KeyUsage, operation: str) -> None:
    """KmsInvalidState unless the key is enabled, KmsIncorrectKeyUsage unless it fits."""
    key.require_enabled()
    require_usage(key.usage, needed, key_id=key.key_id, operation=operation)


def within_limit(size: int, limit: int, *, hint: str) -> None:
    """PayloadTooLarge (naming the limit and ``hint``) when ``size`` bytes exceed ``limit``."""
    if size > limit:
        raise PayloadTooLarge(
            f"the message is {size} bytes, more than the limit of {limit} "
            f"([kms].max_message_bytes); {hint}"
        )


def not_public_only(key: LoadedKey, operation: str) -> None:
    """KmsIncorrectKeyUsage for a public-only key asked to use a private key."""
    if key.origin is KeyOrigin.PUBLIC_ONLY:
        raise KmsIncorrectKeyUsage(
            f"key {key.key_id} is a public key only: it can verify and encrypt, not {operation}"
        )


def version_of(key: LoadedKey, version: int | None) -> int:
    """``version`` (default: the primary), which the key must have."""
    chosen = key.primary_version if version is None else version
    if not key.has_version(chosen):
        raise InvalidInput(f"key {key.key_id} has no version {chosen}")
    return chosen
