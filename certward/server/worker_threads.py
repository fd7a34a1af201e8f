"""The worker threads that run blocking work (database I/O, key generation) for requests.

A plain :class:`~concurrent.futures.ThreadPoolExecutor` behind
``loop.run_in_executor``: Starlette's ``run_in_threadpool`` goes through anyio
(capacity limiter, cancellation shields, task and time lookups), which cost
about as much as a whole certificate signature per call on the hot routes.
The context (contextvars) of the caller is carried into the thread, as anyio does.
A request whose client went away still finishes its work (the thread is not
interrupted), so a change is never left half-done.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

__all__ = ["WORKER_THREADS", "blocking"]

T = TypeVar("T")
P = ParamSpec("P")

# As many as anyio's default limiter allowed: enough for requests waiting on the database.
WORKER_THREADS = 40
_pool = ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="certward-work")


async def blocking(work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``work(*args, **kwargs)`` in a worker thread and await its result."""
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, work, *args, **kwargs)
    return await loop.run_in_executor(_pool, call)
