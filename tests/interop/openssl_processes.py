"""Real openssl and curl processes: one-shot commands and a one-connection ``s_server``."""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["TLSServer", "free_port", "run_tool", "tls_server"]

TOOL_TIMEOUT = 30
SERVER_START_TIMEOUT = 15


def run_tool(
    *command: str | Path, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run openssl or curl to completion (never raising on exit ≠ 0) with a timeout."""
    return subprocess.run(
        [str(part) for part in command],
        input=input_text if input_text is not None else "",
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class TLSServer:
    """A running ``openssl s_server`` and, once it has stopped, what it printed."""

    port: int
    process: subprocess.Popen[bytes]
    stdout: str = ""
    stderr: str = ""
    _early: bytes = field(default=b"", repr=False)

    @property
    def output(self) -> str:
        """stdout and stderr together (s_server prints verify results on stderr)."""
        return self.stdout + self.stderr


def _wait_for_accept(process: subprocess.Popen[bytes]) -> bytes:
    # s_server prints ACCEPT once it listens; a TCP probe would use up its one connection.
    assert process.stdout is not None
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    seen = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while b"ACCEPT" not in seen:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise AssertionError(f"s_server did not start: {seen.decode(errors='replace')}")
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                raise AssertionError(f"s_server exited: {seen.decode(errors='replace')}")
            seen += chunk
    return seen


@contextmanager
def tls_server(openssl: str, *options: str | Path) -> Iterator[TLSServer]:
    """``openssl s_server -naccept 1`` on a free port with ``options``; stopped on exit.

    Its stdin stays open while it runs: s_server stops at end of input.
    """
    port = free_port()
    command = [
        openssl, "s_server", "-accept", f"127.0.0.1:{port}", "-naccept", "1",
        *(str(option) for option in options),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    server = TLSServer(port=port, process=process)
    try:
        server._early = _wait_for_accept(process)
        yield server
    except BaseException:
        # No client may ever come: do not wait for one.
        process.kill()
        raise
    finally:
        try:
            out, err = process.communicate(timeout=TOOL_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        server.stdout = (server._early + out).decode(errors="replace")
        server.stderr = err.decode(errors="replace")
