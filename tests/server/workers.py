"""Reach each worker process of a service on purpose (Linux ``/proc``).

The kernel hands a new connection to whichever worker accepts first, and in
practice one worker takes nearly all of them, so "ten fresh connections" may
never meet the other worker. Instead: open plain TCP connections, find for each
which worker process holds its server side (``/proc/net/tcp`` gives the socket's
inode, ``/proc/PID/fd`` who owns it), and keep some per worker. The TLS
handshake has not happened yet on them; it happens when the test sends its
ClientHello, with the context the worker uses at that moment.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

__all__ = ["connections_by_worker"]

ACCEPT_TIMEOUT = 2.0
MAX_CONNECTIONS = 600


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    pending = [pid]
    while pending:
        parent = pending.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    pending.append(child)
    return found


def _server_side_inode(server_port: int, client_port: int) -> int:
    # Rows: sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].rsplit(":", 1)[1], 16)
        remote_port = int(fields[2].rsplit(":", 1)[1], 16)
        if (local_port, remote_port) == (server_port, client_port):
            return int(fields[9])  # 0 while the connection waits in the accept queue
    return 0


def _owner(processes: set[int], inode: int) -> int | None:
    target = f"socket:[{inode}]"
    for pid in processes:
        try:
            descriptors = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for descriptor in descriptors:
            try:
                if os.readlink(f"/proc/{pid}/fd/{descriptor}") == target:
                    return pid
            except OSError:
                continue
    return None


def _accepting_worker(processes: set[int], server_port: int, client_port: int) -> int:
    deadline = time.monotonic() + ACCEPT_TIMEOUT
    while time.monotonic() < deadline:
        inode = _server_side_inode(server_port, client_port)
        owner = _owner(processes, inode) if inode else None
        if owner is not None:
            return owner
        time.sleep(0.005)
    raise AssertionError(f"no worker accepted the connection from port {client_port}")


def connections_by_worker(
    server_pid: int, host: str, port: int, *, workers: int, each: int
) -> dict[int, list[socket.socket]]:
    """``each`` open TCP connections (no TLS yet) to every one of the ``workers`` processes."""
    processes = _descendants(server_pid)
    pinned: dict[int, list[socket.socket]] = {}
    for _ in range(MAX_CONNECTIONS):
        if len(pinned) == workers and all(len(c) >= each for c in pinned.values()):
            return pinned
        connection = socket.create_connection((host, port), timeout=10)
        worker = _accepting_worker(processes, port, connection.getsockname()[1])
        held = pinned.setdefault(worker, [])
        if len(held) < each:
            held.append(connection)
        else:
            connection.close()
    counts = {pid: len(c) for pid, c in pinned.items()}
    for held in pinned.values():
        for connection in held:
            connection.close()
    raise AssertionError(f"could not reach {workers} workers {each} times each: {counts}")
