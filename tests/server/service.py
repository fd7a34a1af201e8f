"""A real ``certward serve`` process on a free port, and trustme-like handles to talk to it.

``running_service(data_dir)`` starts ``certward -d DATA_DIR serve --port P`` (a
fresh data dir bootstraps itself), waits until ``/health`` answers over TLS and
yields a :class:`Service`; on exit it sends SIGTERM and waits (SIGKILL after 10 s).

``service.client()`` is an ``httpx.Client`` that trusts the service's root and
presents the admin certificate; ``service.client(identity)`` presents another
one, ``service.client(None)`` none. ``service.create_principal(...)`` makes an
API identity and writes its bundle to files that curl and openssl can use.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx
from cryptography import x509

from certward.crypto.serials import serial_hex

__all__ = [
    "CERTWARD",
    "Identity",
    "Refusal",
    "Service",
    "assert_error",
    "free_port",
    "poll_until",
    "run_certward",
    "running_service",
]

CERTWARD = Path(sys.executable).parent / "certward"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
TOOL_TIMEOUT = 60.0
POLL_INTERVAL = 0.05
T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _clean_environment() -> dict[str, str]:
    # The caller's CERTWARD_* settings (a remote server, log level, ...) must not leak in.
    return {key: value for key, value in os.environ.items() if not key.startswith("CERTWARD_")}


def run_certward(*args: str | Path, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run the real ``certward -d DATA_DIR ARGS...`` to completion; fail the test on exit ≠ 0."""
    result = subprocess.run(
        [str(CERTWARD), "-d", str(data_dir), *(str(arg) for arg in args)],
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
        env=_clean_environment(),
    )
    assert result.returncode == 0, f"certward {args} failed: {result.stdout}{result.stderr}"
    return result


def poll_until(
    attempt: Callable[[], T | None], *, within: float, interval: float = POLL_INTERVAL
) -> T | None:
    """Call ``attempt()`` every ``interval`` s until it returns a truthy value or ``within`` s pass.

    Returns that value, or None when the deadline passed first. An attempt that
    ends after the deadline does not count: the result must be seen in time.
    """
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = attempt()
        if value and time.monotonic() <= deadline:
            return value
        time.sleep(interval)
    return None


@dataclass(frozen=True)
class Identity:
    """A client certificate and key on disk (PEM), and the same as PKCS#12 when there is one."""

    name: str
    certificate: Path
    key: Path
    serial: str
    pkcs12: Path | None = None
    pkcs12_password: str = ""

    def curl_options(self) -> list[str]:
        """curl's options to present this identity."""
        return ["--cert", str(self.certificate), "--key", str(self.key)]


@dataclass(frozen=True)
class Refusal:
    """How a connection attempt ended when the server did not answer it."""

    error: str

    @property
    def certificate_revoked(self) -> bool:
        return "certificate revoked" in self.error.lower().replace("_", " ")


@dataclass
class Service:
    """A running ``certward serve``."""

    url: str
    host: str
    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path

    # -- the admin bundle that serve wrote -------------------------------------------

    @property
    def admin_dir(self) -> Path:
        return self.data_dir / "admin"

    @property
    def ca_certificate(self) -> Path:
        """The trust anchor clients verify the server with (``admin/ca.crt``)."""
        return self.admin_dir / "ca.crt"

    @property
    def admin(self) -> Identity:
        """The admin identity ``serve`` wrote on its first start."""
        pem = (self.admin_dir / "admin.crt").read_bytes()
        certificate = x509.load_pem_x509_certificates(pem)[0]
        return Identity(
            name="admin",
            certificate=self.admin_dir / "admin.crt",
            key=self.admin_dir / "admin.key",
            pkcs12=self.admin_dir / "admin.p12",
            pkcs12_password=(self.admin_dir / "admin.p12.pass").read_text().strip(),
            serial=serial_hex(certificate.serial_number),
        )

    def output(self) -> str:
        """What the server printed so far (stdout and stderr)."""
        return self.log.read_text(errors="replace")

    # -- clients --------------------------------------------------------------------

    def ssl_context(self, identity: Identity | None) -> ssl.SSLContext:
        """A client context trusting the service's root, presenting ``identity`` if given."""
        context = ssl.create_default_context(cafile=str(self.ca_certificate))
        if identity is not None:
            context.load_cert_chain(identity.certificate, identity.key)
        return context

    def client(
        self, identity: Identity | Literal["admin"] | None = "admin", **options: Any
    ) -> httpx.Client:
        """An httpx client for the API as ``identity`` (default: the admin; None: no cert)."""
        who = self.admin if identity == "admin" else identity
        return httpx.Client(
            base_url=self.url, verify=self.ssl_context(who), timeout=60.0, **options
        )

    def curl(
        self, *args: str, identity: Identity | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the real curl against the service (``-sS``, trusting its root)."""
        command = ["curl", "-sS", "--max-time", "30", "--cacert", str(self.ca_certificate)]
        if identity is not None:
            command += identity.curl_options()
        return subprocess.run(
            [*command, *args], capture_output=True, text=True, timeout=TOOL_TIMEOUT, check=False
        )

    def fresh_request(
        self,
        identity: Identity | None,
        *,
        path: str = "/v1/whoami",
        context: ssl.SSLContext | None = None,
        connection: socket.socket | None = None,
    ) -> int | Refusal:
        """One request on a new TLS connection: the HTTP status, or how it was refused.

        ``connection``: a TCP connection opened earlier, on which no TLS was spoken yet.
        """
        context = context or self.ssl_context(identity)
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nConnection: close\r\n\r\n"
        )
        raw = connection or socket.create_connection((self.host, self.port), timeout=10)
        try:
            with raw, context.wrap_socket(raw, server_hostname=self.host) as tls:
                tls.sendall(request.encode())
                head = tls.recv(64)
        except (ssl.SSLError, ConnectionError) as exc:
            return Refusal(f"{type(exc).__name__}: {exc}")
        if not head:
            return Refusal("connection closed without a response")
        return int(head.split(b" ", 2)[1])

    # -- API shortcuts (as the admin) -------------------------------------------------

    def create_principal(
        self, directory: Path, *, grants: list[dict[str, Any]], name: str | None = None
    ) -> Identity:
        """Create a principal through the API and write its bundle into ``directory``."""
        name = name or f"p-{uuid.uuid4().hex[:10]}"
        with self.client() as api:
            response = api.post("/v1/principals", json={"name": name, "grants": grants})
        assert response.status_code == 201, response.text
        return _write_bundle(directory, name, response.json())

    def issue_client_certificate(self, directory: Path, common_name: str) -> Identity:
        """Issue a client certificate (server-side key) from the issuing CA; not a principal."""
        with self.client() as api:
            response = api.post(
                "/v1/certificates",
                json={"ca": "issuing", "profile": "client", "common_name": common_name},
            )
        assert response.status_code == 201, response.text
        body = response.json()
        directory.mkdir(parents=True, exist_ok=True)
        certificate = directory / f"{common_name}.crt"
        key = directory / f"{common_name}.key"
        certificate.write_text(body["chain_pem"])
        key.write_text(body["private_key_pem"])
        key.chmod(0o600)
        return Identity(common_name, certificate, key, body["serial"])

    # -- lifecycle -------------------------------------------------------------------

    def stop(self) -> int:
        """SIGTERM, wait (SIGKILL the process group after 10 s); the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT)
        return self.process.returncode


def _write_bundle(directory: Path, name: str, body: dict[str, Any]) -> Identity:
    directory.mkdir(parents=True, exist_ok=True)
    certificate = directory / f"{name}.crt"
    key = directory / f"{name}.key"
    pkcs12 = directory / f"{name}.p12"
    certificate.write_text(body["chain_pem"])
    key.write_text(body["private_key_pem"])
    key.chmod(0o600)
    pkcs12.write_bytes(base64.b64decode(body["pkcs12_base64"]))
    pkcs12.chmod(0o600)
    return Identity(
        name=name,
        certificate=certificate,
        key=key,
        pkcs12=pkcs12,
        pkcs12_password=body["pkcs12_password"],
        serial=body["principal"]["certificate_serial"],
    )


def _healthy(service: Service) -> bool:
    if not service.ca_certificate.exists():
        return False
    try:
        response = httpx.get(f"{service.url}/health", verify=service.ssl_context(None), timeout=2.0)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


@contextmanager
def running_service(
    data_dir: Path, *, workers: int = 1, log: Path, database: str | None = None
) -> Iterator[Service]:
    """``certward -d DATA_DIR serve`` on a free port until the block ends (see module doc).

    ``database``: a URL for ``--database`` (several services on one PostgreSQL = a cluster).
    """
    port = free_port()
    command = [str(CERTWARD), "-d", str(data_dir)]
    if database is not None:
        command += ["--database", database]
    command += ["serve", "--port", str(port)]
    if workers != 1:
        command += ["--workers", str(workers)]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=_clean_environment(),
            # Its own process group: a hung server and its workers can be killed together.
            start_new_session=True,
        )
    service = Service(
        url=f"https://127.0.0.1:{port}",
        host="127.0.0.1",
        port=port,
        data_dir=data_dir,
        process=process,
        log=log,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _healthy(service):
            if process.poll() is not None:
                raise AssertionError(f"certward serve exited early:\n{service.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"certward serve did not answer /health:\n{service.output()}")
            time.sleep(POLL_INTERVAL)
        yield service
    finally:
        service.stop()


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Check the one error shape: status, code, request id in body and header, no traceback."""
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "request_id"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"], error
    assert error["request_id"] == response.headers["x-request-id"], error
    for marker in ("Traceback", 'File "', "site-packages", '.py", line'):
        assert marker not in response.text, response.text
    return dict(error)
