"""Key distribution, byte-compatible with Limax: per-group keys derived from master keys.

The client side is re-exported here: ``certward.kds.KeyAllocator``, ``KeyDesc`` and
``KeyExceptionType`` (loaded on first use, so a KDS node does not import the client).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from certward.kds.client import KeyAllocator, KeyDesc, KeyExceptionType

__all__ = ["KeyAllocator", "KeyDesc", "KeyExceptionType"]


def __getattr__(name: str) -> object:
    if name in __all__:
        from certward.kds import client

        return getattr(client, name)
    raise AttributeError(f"module 'certward.kds' has no attribute {name!r}")
