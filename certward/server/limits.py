"""Per-caller rate limits: a token bucket per client certificate (or address without one).

Each caller has a bucket of ``burst`` tokens refilled at ``rate`` tokens per
second; a request takes one. An empty bucket answers 429 ``rate_limited`` with
``Retry-After`` (whole seconds until a token is back). Callers are told apart by
the SHA-256 fingerprint of their client certificate (one per principal), and
requests without one by the client address. ``/health``, OCSP and ACME are not
counted here (the probe is free; OCSP serves relying parties behind shared
addresses; ACME has its own per-account limits).

Buckets live in the worker process, like metrics: with ``--workers N`` a caller
may reach N times the rate. The table is bounded (``max_callers``): when it is
full, buckets that have refilled completely (idle callers) are dropped first;
if none has, the whole table is dropped, which errs towards letting requests in
rather than towards unbounded memory.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

__all__ = ["RateLimiter"]


class RateLimiter:
    """Token buckets keyed by caller (see the module docstring)."""

    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        max_callers: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a rate limiter needs a positive rate and a burst of at least 1")
        self.rate = rate
        self.burst = float(burst)
        self.max_callers = max_callers
        self._clock = clock
        # caller -> [tokens, time of the last update]; lists, so an update is in place.
        self._buckets: dict[str, list[float]] = {}

    def acquire(self, caller: str) -> float | None:
        """Take a token for ``caller``: None if allowed, else seconds until one is back."""
        now = self._clock()
        bucket = self._buckets.get(caller)
        if bucket is None:
            if len(self._buckets) >= self.max_callers:
                self._evict(now)
            self._buckets[caller] = [self.burst - 1.0, now]
            return None
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return None
        bucket[0] = tokens
        return (1.0 - tokens) / self.rate

    def _evict(self, now: float) -> None:
        full = [
            caller
            for caller, (tokens, then) in self._buckets.items()
            if tokens + (now - then) * self.rate >= self.burst
        ]
        for caller in full:
            del self._buckets[caller]
        if len(self._buckets) >= self.max_callers:
            self._buckets.clear()

    @staticmethod
    def retry_after(seconds: float) -> str:
        """The ``Retry-After`` value (whole seconds, at least 1) for a wait of ``seconds``."""
        return str(max(1, math.ceil(seconds)))

    def __len__(self) -> int:
        return len(self._buckets)
