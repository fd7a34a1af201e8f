"""The names that bind sealed KMS secrets to their rows (the envelope's associated data)."""

from __future__ import annotations

__all__ = ["import_token_record_id", "key_material_record_id", "version_record"]


def version_record(key_id: str, version: int) -> str:
    """The ``record`` column of a key version: ``key-<uuid>/<version>``."""
    return f"{key_id}/{version}"


def key_material_record_id(record: str) -> str:
    """Associated data of a key version's sealed material, from its ``record`` column."""
    return f"kms-key:{record}"


def import_token_record_id(token: str) -> str:
    """Associated data of a sealed bring-your-own-key wrapping key, from its token."""
    return f"kms-import:{token}"
