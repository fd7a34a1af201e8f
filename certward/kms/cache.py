"""Keys kept ready for use in one process: no database read per operation.

A key's state (enabled, primary version, min_decryption_version, aliases) is
trusted for ``ttl`` seconds (a second in the service, like the principal cache),
so a change made by another process or node is seen within that time; a change
made by this process calls :meth:`KeyCache.forget` and is seen at once. Opened
material is kept longer (per version, in the :class:`MaterialCache`): a version's
material never changes once made.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from certward.ca.context import CAContext
from certward.errors import KmsKeyNotFound
from certward.kms.keys import LoadedKey, load_key
from certward.kms.material import MaterialCache

__all__ = ["KeyCache"]

DEFAULT_TTL = 1.0
# Past this many references, the cache starts over: one caller cannot grow it without end.
_MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class _Entry:
    key: LoadedKey
    loaded_at: float
    generation: int


class KeyCache:
    """Loaded keys by reference (key id or alias), each trusted for ``ttl`` seconds."""

    def __init__(self, ctx: CAContext, *, ttl: float = DEFAULT_TTL) -> None:
        self._ctx = ctx
        self._ttl = ttl
        self.materials = MaterialCache(ctx.keystore)
        self._entries: dict[str, _Entry] = {}
        self._generation = 0
        self._lock = threading.Lock()
        # One load per reference at a time: requests that miss together share one read.
        self._loading: dict[str, threading.Lock] = {}

    def cached(self, ref: str) -> LoadedKey | None:
        """The key of ``ref`` if it is cached and fresh; None otherwise (no I/O)."""
        entry = self._entries.get(ref)
        if (
            entry is None
            or entry.generation != self._generation
            or time.monotonic() - entry.loaded_at >= self._ttl
        ):
            return None
        return entry.key

    def load(self, ref: str) -> LoadedKey:
        """Read the key of ``ref`` from the database and cache it (blocking: a worker thread).

        Callers that miss the same reference together wait for one read and share it.
        """
        with self._lock:
            if len(self._loading) >= _MAX_ENTRIES:
                self._loading.clear()
            loading = self._loading.setdefault(ref, threading.Lock())
        with loading:
            fresh = self.cached(ref)
            return fresh if fresh is not None else self._read(ref)

    def _read(self, ref: str) -> LoadedKey:
        generation = self._generation
        try:
            key = load_key(self._ctx, ref, materials=self.materials)
        except KmsKeyNotFound:
            self._drop(ref)
            raise
        entry = _Entry(key, time.monotonic(), generation)
        with self._lock:
            if len(self._entries) >= _MAX_ENTRIES:
                self._entries.clear()
            self._entries[ref] = entry
            # The key is also known by its id and aliases: one read serves them all.
            for name in key.resources:
                self._entries[name] = entry
        return key

    def get(self, ref: str) -> LoadedKey:
        """The key of ``ref``, from the cache when fresh, else from the database."""
        return self.cached(ref) or self.load(ref)

    def forget(self, key_id: str | None = None) -> None:
        """Forget every cached key state (after a change by this process).

        ``key_id``: a key that was deleted; its opened material is dropped too.
        """
        with self._lock:
            self._generation += 1
            self._entries.clear()
        if key_id is not None:
            self.materials.forget(key_id)

    def _drop(self, ref: str) -> None:
        with self._lock:
            entry = self._entries.pop(ref, None)
        if entry is not None:
            self.materials.forget(entry.key.key_id)
