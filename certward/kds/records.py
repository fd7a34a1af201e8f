"""The name that binds a sealed KDS master key to its row (the envelope's associated data)."""

from __future__ import annotations

__all__ = ["master_key_record_id"]


def master_key_record_id(timestamp: int | str) -> str:
    """Associated data of the master key published at ``timestamp`` (milliseconds)."""
    return f"kds-master:{int(timestamp)}"
