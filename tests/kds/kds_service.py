"""A real ``certward kds serve`` process on a free port, and trustme-like KDS certificates.

For the KDS-protocol helper (tests/kds/test_client.py) and everyone else who needs a
real key server::

    pki = KdsPKI.create(tmp_path / "certward-data")          # data dir + root + issuing CA
    server = pki.server_identity()                            # CN = pki.kds_name, IP 127.0.0.1
    alice = pki.client_identity("urn:prjA#10s", "urn:prjB")   # SAN DNS = kds_name, SAN URIs
    with running_kds(pki, server, log=tmp_path / "kds.log") as node:
        answer = node.request_key(KeyIdent(-1, 7, "urn:prjA"), alice)   # a KeyResponse
        node.host, node.port, pki.trust_file                  # for a KeyAllocator

``running_kds`` starts ``certward -d DATA_DIR kds serve --port P --cert ... --trusts
ROOT`` (the data dir's own CAs; its CRLs are checked), waits until the port accepts
TLS (the first master key exists by then: the node publishes it before it listens)
and stops the process (SIGTERM, SIGKILL after 10 s) when the block ends.
``node.post(body, identity)`` returns the raw (status, headers, body) of any request.

Refusals carry ``{"error": {"code", "message", "request_id"}}`` with HTTP 400 (413 for
an ident over 4096 bytes, 503 before any master key exists).
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509

from certward.ca.authority import ca_chain
from certward.ca.context import CAContext
from certward.ca.issue import issue_certificate
from certward.crypto.formats import certificate_pem, chain_pem
from certward.crypto.keys import private_key_to_pkcs8
from certward.datadir import initialise_data_dir
from certward.kds.ident import KeyIdent
from certward.kds.response import KeyResponse
from tests.support.pki import PKI

__all__ = [
    "CERTWARD",
    "KDS_NAME",
    "KdsIdentity",
    "KdsNode",
    "KdsPKI",
    "free_port",
    "running_kds",
]

CERTWARD = Path(sys.executable).parent / "certward"
KDS_NAME = "kds.example.org"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class KdsIdentity:
    """A certificate (``certificate``: leaf then chain, PEM) and its key (PEM) on disk."""

    name: str
    certificate: Path
    key: Path
    serial: str
    cert: x509.Certificate = field(repr=False)


@dataclass
class KdsPKI:
    """A data dir with a root and an issuing CA, issuing KDS server and client certificates."""

    context: CAContext
    data_dir: Path
    directory: Path
    kds_name: str = KDS_NAME

    @classmethod
    def create(cls, data_dir: Path, *, database: str | None = None) -> KdsPKI:
        context = initialise_data_dir(data_dir, database=database)
        PKI.create(context)
        directory = data_dir.parent / "kds-pki"
        directory.mkdir(exist_ok=True)
        pki = cls(context=context, data_dir=data_dir, directory=directory)
        pki.trust_file.write_bytes(certificate_pem(ca_chain(context, "root")[0]))
        return pki

    @property
    def trust_file(self) -> Path:
        """The root CA certificate (PEM): the trust anchor of servers and clients."""
        return self.directory / "root.pem"

    def _issue(
        self, stem: str, *, profile: str, common_name: str, sans: Sequence[str]
    ) -> KdsIdentity:
        issued = issue_certificate(
            self.context,
            ca_name="issuing",
            profile=profile,
            common_name=common_name,
            sans=list(sans),
        )
        assert issued.private_key is not None
        certificate = self.directory / f"{stem}.crt"
        key = self.directory / f"{stem}.key"
        certificate.write_bytes(chain_pem(issued.full_chain))
        key.write_bytes(private_key_to_pkcs8(issued.private_key))
        key.chmod(0o600)
        return KdsIdentity(stem, certificate, key, issued.serial, issued.certificate)

    def server_identity(
        self, stem: str = "kds-server", *, kds_name: str | None = None
    ) -> KdsIdentity:
        """A server certificate with subject CN = the KDSName, for 127.0.0.1 and localhost."""
        return self._issue(
            stem,
            profile="server",
            common_name=kds_name or self.kds_name,
            sans=("DNS:localhost", "IP:127.0.0.1"),
        )

    def client_identity(
        self, *group_uris: str, stem: str = "kds-client", dns_name: str | None = "default"
    ) -> KdsIdentity:
        """A client certificate: SAN DNS = the KDSName (None: no DNS name), SAN URIs = groups."""
        sans = [f"URI:{uri}" for uri in group_uris]
        if dns_name is not None:
            sans.insert(0, f"DNS:{self.kds_name if dns_name == 'default' else dns_name}")
        return self._issue(stem, profile="client", common_name=stem, sans=sans)

    def close(self) -> None:
        self.context.database.dispose()


@dataclass
class KdsNode:
    """A running ``certward kds serve``."""

    host: str
    port: int
    data_dir: Path
    trust_file: Path
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}/"

    def output(self) -> str:
        """What the node printed so far (stdout and stderr, JSON log lines included)."""
        return self.log.read_text(errors="replace")

    def ssl_context(self, identity: KdsIdentity | None) -> ssl.SSLContext:
        """A client context trusting the KDS root and presenting ``identity`` (if given)."""
        context = ssl.create_default_context(cafile=str(self.trust_file))
        if identity is not None:
            context.load_cert_chain(identity.certificate, identity.key)
        return context

    def post(
        self,
        body: bytes,
        identity: KdsIdentity | None,
        *,
        method: str = "POST",
        path: str = "/",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request on a new connection: (status, lower-case headers, body)."""
        connection = http.client.HTTPSConnection(
            self.host, self.port, context=self.ssl_context(identity), timeout=30
        )
        try:
            sent = {"Content-Type": "application/octet-stream", **(headers or {})}
            connection.request(method, path, body=body if method != "GET" else None, headers=sent)
            response = connection.getresponse()
            return (
                response.status,
                {name.lower(): value for name, value in response.getheaders()},
                response.read(),
            )
        finally:
            connection.close()

    def request_key(self, ident: KeyIdent, identity: KdsIdentity) -> KeyResponse:
        """Ask for the key of ``ident`` as ``identity``; the decoded answer (200 asserted)."""
        status, headers, body = self.post(ident.encode(), identity)
        assert status == 200, (status, body)
        assert headers["content-type"] == "application/octet-stream"
        return KeyResponse.decode(body)

    def stop(self) -> int:
        """SIGTERM, wait (SIGKILL after 10 s); the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=STOP_TIMEOUT)
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: the node dies without leaving the registry or releasing the election."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT)


def _clean_environment() -> dict[str, str]:
    # The caller's CERTWARD_* settings must not leak in.
    return {key: value for key, value in os.environ.items() if not key.startswith("CERTWARD_")}


def _accepts_tls(port: int, host: str = "127.0.0.1") -> bool:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host, port), timeout=2) as raw,
            context.wrap_socket(raw),
        ):
            return True
    except OSError:
        return False


def copy_data_dir(source: Path, target: Path) -> Path:
    """Another node's data dir: the same keystore and config (for a shared database)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("certward.db*", "*.lock"))
    return target


@contextmanager
def running_kds(
    pki: KdsPKI,
    server: KdsIdentity,
    *,
    log: Path,
    data_dir: Path | None = None,
    database: str | None = None,
    publish_period: float | None = 30.0,
    heartbeat_seconds: float | None = None,
    trusts: Path | None = None,
    args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
) -> Iterator[KdsNode]:
    """``certward kds serve`` on a free port until the block ends (see the module doc).

    ``host``/``port``: listen there instead (e.g. 127.0.0.2 and the port of another
    node, for a second node that clients reach as a "random server").
    """
    port = port or free_port()
    data_dir = data_dir or pki.data_dir
    command = [str(CERTWARD), "-d", str(data_dir), "--log-level", "info"]
    command += ["kds", "serve", "--host", host, "--port", str(port)]
    command += ["--cert", str(server.certificate), "--key", str(server.key)]
    command += ["--trusts", str(trusts or pki.trust_file)]
    if database is not None:
        command += ["--database", database]
    if publish_period is not None:
        command += ["--publish-period", str(publish_period)]
    command += list(args)
    environment = _clean_environment() | (env or {})
    if heartbeat_seconds is not None:
        environment["CERTWARD_KDS__HEARTBEAT_SECONDS"] = str(heartbeat_seconds)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=environment,
            start_new_session=True,  # its own process group: kill() reaches it alone
        )
    node = KdsNode(host, port, data_dir, pki.trust_file, process, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _accepts_tls(port, host):
            if process.poll() is not None:
                raise AssertionError(f"certward kds serve exited early:\n{node.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"certward kds serve did not accept TLS:\n{node.output()}")
            time.sleep(0.05)
        yield node
    finally:
        node.stop()
