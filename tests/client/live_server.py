"""A real ``certward serve`` on a free port, and listeners that misbehave on purpose.

``with running_server(tmp_path / "data") as server:`` bootstraps a fresh data dir,
serves it, and hands out what a user would have: ``server.client()`` (the admin
identity), ``server.cli_options()`` (the CLI's remote flags), the admin files.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from certward.client import AsyncClient, Client
from tests.cli.runner import CERTWARD

__all__ = ["DroppingListener", "LiveServer", "dropping_listener", "free_port", "running_server"]

STARTUP_TIMEOUT = 60.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (right now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class LiveServer:
    """A running ``certward serve`` and the admin identity its bootstrap wrote."""

    url: str
    data_dir: Path

    @property
    def admin_dir(self) -> Path:
        return self.data_dir / "admin"

    @property
    def ca_file(self) -> Path:
        """The trust anchor that verifies the server."""
        return self.admin_dir / "ca.crt"

    @property
    def admin_cert(self) -> Path:
        return self.admin_dir / "admin.crt"

    @property
    def admin_key(self) -> Path:
        return self.admin_dir / "admin.key"

    @property
    def admin_p12(self) -> Path:
        return self.admin_dir / "admin.p12"

    @property
    def admin_p12_password(self) -> str:
        return (self.admin_dir / "admin.p12.pass").read_text().strip()

    def client(self, **options: Any) -> Client:
        """A client with the admin identity."""
        return Client(
            self.url, cert=self.admin_cert, key=self.admin_key, ca=self.ca_file, **options
        )

    def async_client(self, **options: Any) -> AsyncClient:
        """An async client with the admin identity."""
        return AsyncClient(
            self.url, cert=self.admin_cert, key=self.admin_key, ca=self.ca_file, **options
        )

    def cli_options(self) -> list[str]:
        """The global CLI options that point a command at this server as admin."""
        return [
            "--server", self.url, "--cert", str(self.admin_cert),
            "--key", str(self.admin_key), "--ca", str(self.ca_file),
        ]  # fmt: skip


def _clean_environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("CERTWARD_")}


def _wait_until_healthy(process: subprocess.Popen[bytes], server: LiveServer, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"certward serve exited {process.returncode}:\n{log.read_text()}")
        if server.ca_file.exists():
            try:
                context = ssl.create_default_context(cafile=str(server.ca_file))
                if httpx.get(f"{server.url}/health", verify=context, timeout=2).is_success:
                    return
            except (httpx.TransportError, ssl.SSLError, OSError):
                pass  # not listening yet, or ca.crt half written
        time.sleep(0.1)
    raise AssertionError(f"certward serve did not answer /health in time:\n{log.read_text()}")


@contextmanager
def running_server(data_dir: Path) -> Iterator[LiveServer]:
    """Bootstrap ``data_dir``, serve it on a free port until the block ends."""
    port = free_port()
    log = data_dir.parent / f"serve-{port}.log"
    command = [
        str(CERTWARD), "--data-dir", str(data_dir), "serve",
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=_clean_environment()
        )
    server = LiveServer(url=f"https://127.0.0.1:{port}", data_dir=data_dir)
    try:
        _wait_until_healthy(process, server, log)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class DroppingListener:
    """Accepts TCP connections and closes them at once, counting them."""

    url: str
    accepted: int = 0
    heads: list[bytes] = field(default_factory=list)  # request heads read (with ``tls``)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> None:
        with self._lock:
            self.accepted += 1

    def header_values(self, name: bytes) -> list[bytes]:
        """The value of header ``name`` in each request head read, in order."""
        found = []
        for head in self.heads:
            for line in head.split(b"\r\n")[1:]:
                key, _, value = line.partition(b":")
                if key.strip().lower() == name:
                    found.append(value.strip())
        return found


def _read_request_head(connection: socket.socket) -> bytes:
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(4096)
        if not chunk:
            break
        received += chunk
    return received.split(b"\r\n\r\n", 1)[0]


@contextmanager
def dropping_listener(tls: ssl.SSLContext | None = None) -> Iterator[DroppingListener]:
    """A port where every connection is cut: before the TLS handshake finishes, or with
    ``tls`` (a server context) after the handshake and the request, without an answer."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.05)
    listener = DroppingListener(url=f"https://127.0.0.1:{sock.getsockname()[1]}")
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = sock.accept()
            except TimeoutError:
                continue
            listener.count()
            with connection:
                if tls is not None:
                    connection.settimeout(5)
                    try:
                        with tls.wrap_socket(connection, server_side=True) as secured:
                            head = _read_request_head(secured)
                            with listener._lock:
                                listener.heads.append(head)
                    except (ssl.SSLError, OSError):
                        pass  # the client gave up first; the count is what matters

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        stop.set()
        thread.join()
        sock.close()
