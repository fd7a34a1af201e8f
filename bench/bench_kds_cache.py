"""KeyAllocator.create_key_desc served from its cache, in process, next to uncached requests.

A real ``certward kds serve`` node (one worker, its own core) answers the first
request; after that the sender's ``create_key_desc(uri)`` (timestamp -1, the same
nonce for the precision period) and the receiver's ``create_key_desc(ident)`` are
cache hits. The reference is the same receiver call with a fresh nonce each time,
so every call is a key request to the node over keep-alive mutual TLS (measured in
the same run): the ratio says what the cache saves.

Run: ``.venv/bin/python bench/bench_kds_cache.py [--quick]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Row, machine, markdown_table, timed
from certward.kds.client import KeyAllocator
from certward.kds.ident import KeyIdent

# The trustme-like KDS helpers of the test suite start the real node.
from tests.kds.kds_service import KdsPKI, running_kds


def _per_second(count: int, action: Callable[[int], object]) -> float:
    def loop() -> None:
        for index in range(count):
            action(index)

    _, seconds = timed(loop)
    return count / seconds


def run(quick: bool = False) -> list[Row]:
    """Cache hits per second (sender and receiver) next to uncached key requests per second."""
    hits = 200_000 if quick else 1_000_000
    misses = 1_000 if quick else 5_000
    with tempfile.TemporaryDirectory(prefix="certward-bench-kds-") as base:
        pki = KdsPKI.create(Path(base) / "certward-data")
        identity = pki.client_identity("urn:bench#1h", stem="bench")
        with running_kds(pki, pki.server_identity(), log=Path(base) / "kds.log") as node:
            os.sched_setaffinity(node.process.pid, {1 % (os.cpu_count() or 1)})
            os.sched_setaffinity(0, {0})
            with KeyAllocator(identity.certificate, identity.key, pki.trust_file) as allocator:
                allocator.set_host(f"127.0.0.1:{node.port}")
                sent = allocator.create_key_desc("urn:bench")
                timestamp = KeyIdent.decode(sent.ident).timestamp
                fresh = [
                    KeyIdent(timestamp, nonce, "urn:bench").encode() for nonce in range(misses)
                ]
                allocator.create_key_desc(fresh[0])  # warm the connection
                uncached = _per_second(
                    misses - 1, lambda i: allocator.create_key_desc(fresh[i + 1])
                )
                start = time.time()
                sender = _per_second(hits, lambda i: allocator.create_key_desc("urn:bench"))
                receiver = _per_second(hits, lambda i: allocator.create_key_desc(sent.ident))
                # Within one hour-long nonce period the sender never left the cache.
                assert time.time() - start < 3600
        pki.close()
    reference = "uncached create_key_desc(ident): one request to one node, keep-alive mTLS"
    return [
        Row("KDS create_key_desc(uri), cache hit", sender, uncached, reference, "calls/s"),
        Row("KDS create_key_desc(ident), cache hit", receiver, uncached, reference, "calls/s"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    args = parser.parse_args()
    rows = run(args.quick)
    print(f"Machine: {machine()}; the allocator pinned to core 0, the node to core 1.\n")
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
