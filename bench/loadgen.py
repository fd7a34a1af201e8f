"""A small multi-process HTTPS load generator that can present a client certificate.

``wrk`` cannot do mutual TLS, so every mTLS workload uses this instead. Each
connection is its own process (a blocking ``ssl`` socket, no event loop, no
GIL to share), all pinned to one core so the server keeps the other (or, with
``core=None``, free to run on every core). Requests
are pre-encoded bytes; responses are parsed just enough to find their end
(``Content-Length``) and status. Only 2xx responses count.

Modes:

- ``keepalive``: each connection sends ``GET path`` again and again (HTTP/1.1
  keep-alive), reconnecting only if the server closes;
- ``handshake``: a fresh TLS connection (full handshake, no resumption), one
  request, close, repeatedly;
- ``post``: like ``keepalive`` with ``POST path`` and a JSON body (cycling through
  the bodies given).

The client does not verify the server's certificate (the servers under test are
known; verifying would only add client-side cost to handshakes); it presents
its own certificate when given one, which the server does verify.

Run: ``.venv/bin/python bench/loadgen.py https://127.0.0.1:8443/health --mode handshake
--connections 4 --duration 5 --cert c.pem --key k.pem``
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import socket
import ssl
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from multiprocessing.synchronize import Event

__all__ = ["LoadResult", "LoadSpec", "run_load"]

MODES = ("keepalive", "handshake", "post")
_CONNECT_TIMEOUT = 10.0
_HEADER_END = b"\r\n\r\n"


@dataclass(frozen=True)
class LoadSpec:
    """What to send, where, how hard and for how long."""

    url: str
    mode: str = "keepalive"
    connections: int = 8
    duration: float = 5.0
    core: int | None = 1
    cert: str | None = None
    key: str | None = None
    bodies: tuple[bytes, ...] = field(default=(), repr=False)
    content_type: str = "application/json"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.mode == "post" and not self.bodies:
            raise ValueError("post mode needs at least one body")


@dataclass(frozen=True)
class LoadResult:
    """What the connections achieved, summed over processes."""

    ok: int
    failed: int
    errors: int
    per_second: float
    first_error: str | None = None


def _client_context(spec: LoadSpec) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if spec.cert:
        context.load_cert_chain(spec.cert, spec.key)
    return context


def _requests(spec: LoadSpec) -> list[bytes]:
    parts = urlsplit(spec.url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host = parts.netloc
    keep = "close" if spec.mode == "handshake" else "keep-alive"
    if spec.mode != "post":
        return [f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: {keep}\r\n\r\n".encode()]
    return [
        (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: keep-alive\r\n"
            f"Content-Type: {spec.content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body in spec.bodies
    ]


class _Closed(Exception):
    """The server closed the connection (keep-alive ended)."""


class _Connection:
    """One TLS connection and a receive buffer."""

    def __init__(self, address: tuple[str, int], context: ssl.SSLContext, server_name: str):
        raw = socket.create_connection(address, timeout=_CONNECT_TIMEOUT)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = context.wrap_socket(raw, server_hostname=server_name)
        self.buffer = b""

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def exchange(self, request: bytes) -> tuple[int, bool]:
        """Send ``request``, read one response: (status, server keeps the connection)."""
        sock = self.sock
        sock.sendall(request)
        buffer = self.buffer
        end = buffer.find(_HEADER_END)
        while end < 0:
            chunk = sock.recv(65536)
            if not chunk:
                raise _Closed
            buffer += chunk
            end = buffer.find(_HEADER_END)
        head = buffer[:end].lower()
        status = int(buffer[9:12])
        at = head.find(b"\ncontent-length:")
        if at < 0:
            raise ValueError("response without Content-Length")
        stop = head.find(b"\r", at)
        length = int(head[at + 16 : stop if stop >= 0 else len(head)])
        total = end + 4 + length
        while len(buffer) < total:
            chunk = sock.recv(65536)
            if not chunk:
                raise _Closed
            buffer += chunk
        self.buffer = buffer[total:]
        return status, b"\nconnection: close" not in head


def _worker(spec: LoadSpec, ready: Connection, start: Event, index: int) -> None:
    # Explicit either way: a forked worker inherits whatever pinning its parent had.
    os.sched_setaffinity(0, {spec.core} if spec.core is not None else range(os.cpu_count() or 1))
    parts = urlsplit(spec.url)
    address = (parts.hostname or "127.0.0.1", parts.port or 443)
    server_name = parts.hostname or "localhost"
    context = _client_context(spec)
    requests = _requests(spec)
    ok = failed = errors = 0
    first_error: str | None = None
    connection: _Connection | None = None
    if spec.mode != "handshake":
        try:
            connection = _Connection(address, context, server_name)
        except (OSError, ValueError) as exc:
            first_error = f"connect: {exc!r}"
    ready.send(None)
    start.wait()
    started = time.perf_counter()
    deadline = started + spec.duration
    turn = index
    while time.perf_counter() < deadline:
        request = requests[turn % len(requests)]
        turn += 1
        try:
            if connection is None:
                connection = _Connection(address, context, server_name)
            status, keep = connection.exchange(request)
            if 200 <= status < 300:
                ok += 1
            else:
                failed += 1
            if not keep or spec.mode == "handshake":
                connection.close()
                connection = None
        except (OSError, ValueError, _Closed) as exc:
            errors += 1
            if first_error is None:
                first_error = repr(exc)
            if connection is not None:
                connection.close()
                connection = None
    elapsed = time.perf_counter() - started
    if connection is not None:
        connection.close()
    ready.send((ok, failed, errors, elapsed, first_error))


def run_load(spec: LoadSpec) -> LoadResult:
    """Run ``spec`` and return the 2xx responses per second over all connections."""
    forking = multiprocessing.get_context("fork")
    start = forking.Event()
    pipes = []
    processes = []
    for index in range(spec.connections):
        parent_end, child_end = forking.Pipe(duplex=False)
        process = forking.Process(target=_worker, args=(spec, child_end, start, index), daemon=True)
        process.start()
        child_end.close()
        pipes.append(parent_end)
        processes.append(process)
    try:
        for pipe in pipes:
            pipe.recv()  # connected (or failed to): start everyone at once
        start.set()
        results = [pipe.recv() for pipe in pipes]
    finally:
        for process in processes:
            process.join(timeout=spec.duration + 30)
            if process.is_alive():
                process.kill()
    ok = sum(r[0] for r in results)
    first_error = next((r[4] for r in results if r[4]), None)
    return LoadResult(
        ok=ok,
        failed=sum(r[1] for r in results),
        errors=sum(r[2] for r in results),
        per_second=sum(r[0] / r[3] for r in results if r[3] > 0),
        first_error=first_error,
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="https://host:port/path")
    parser.add_argument("--mode", choices=MODES, default="keepalive")
    parser.add_argument("--connections", type=int, default=8, help="one process each")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds")
    parser.add_argument("--core", type=int, default=1, help="CPU core to pin to (-1: every core)")
    parser.add_argument("--cert", help="client certificate (PEM, may hold the chain)")
    parser.add_argument("--key", help="client private key (PEM)")
    parser.add_argument("--body", action="append", default=[], help="a body file (post mode)")
    args = parser.parse_args(argv)
    bodies = []
    for name in args.body:
        with open(name, "rb") as handle:
            bodies.append(handle.read())
    spec = LoadSpec(
        url=args.url,
        mode=args.mode,
        connections=args.connections,
        duration=args.duration,
        core=None if args.core < 0 else args.core,
        cert=args.cert,
        key=args.key,
        bodies=tuple(bodies),
    )
    result = run_load(spec)
    print(
        f"{result.per_second:,.0f} req/s (2xx: {result.ok}, other status: {result.failed}, "
        f"errors: {result.errors})"
    )
    if result.first_error:
        print(f"first error: {result.first_error}", file=sys.stderr)


if __name__ == "__main__":
    main()
