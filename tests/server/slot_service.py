"""``certward serve`` with the three OpenBMC slots, a TLS service behind server/https, a webhook.

``slot_service(base)`` writes ``certward.toml`` before the first start:

- ``server/https`` → ``base/slots/https``; reloading sends SIGHUP to a real TLS
  server (``slot_tls_server.py``) that serves those files on ``tls_port``;
- ``client/ldap`` → ``base/slots/ldap``;
- ``authority/truststore`` → ``base/slots/truststore`` (an OpenSSL hash dir);
- one webhook: a local HTTP server (:class:`WebhookReceiver`) that answers its
  very first delivery with 503 (so a retry is seen) and records every request;
- events polled every 0.1 s, SSE keep-alive every second.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.server.service import Service, free_port, poll_until, running_service

__all__ = ["WEBHOOK_SECRET", "SlotService", "WebhookReceiver", "slot_service"]

WEBHOOK_SECRET = b"webhook-secret-for-tests-0123456789"
_TLS_SERVER = Path(__file__).with_name("slot_tls_server.py")


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body)
        return loaded


@dataclass
class WebhookReceiver:
    """A real HTTP server recording POSTs; the first one is refused with 503."""

    port: int = 0
    deliveries: list[Delivery] = field(default_factory=list)
    refused: list[Delivery] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> ThreadingHTTPServer:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                delivery = Delivery(dict(self.headers.items()), self.rfile.read(length))
                with receiver._lock:
                    first = not receiver.refused
                    (receiver.refused if first else receiver.deliveries).append(delivery)
                self.send_response(503 if first else 204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [delivery.event for delivery in self.deliveries]


@dataclass
class SlotService:
    service: Service
    slots_dir: Path
    tls_port: int
    webhook: WebhookReceiver

    def slot_dir(self, label: str) -> Path:
        return self.slots_dir / label


def _config(base: Path, slots: Path, pid_file: Path, webhook_port: int, secret: Path) -> str:
    return f"""
[slots."server/https"]
directory = "{slots / "https"}"
host_name = "bmc.example.test"
[slots."server/https".reload]
pid_file = "{pid_file}"

[slots."client/ldap"]
directory = "{slots / "ldap"}"

[slots."authority/truststore"]
directory = "{slots / "truststore"}"
lookup_hash_directory = true

[events]
poll_seconds = 0.1
keepalive_seconds = 1
expiry_scan_seconds = 1
retry_backoff_seconds = 0.1

[[events.webhooks]]
url = "http://127.0.0.1:{webhook_port}/hooks/certward"
secret_file = "{secret}"
"""


@contextmanager
def slot_service(base: Path, *, workers: int = 1) -> Iterator[SlotService]:
    """The service described in the module docstring, until the block ends."""
    receiver = WebhookReceiver()
    http = receiver.start()
    slots = base / "slots"
    data = base / "data"
    data.mkdir(mode=0o700, parents=True)
    secret = base / "webhook.secret"
    secret.write_bytes(WEBHOOK_SECRET + b"\n")
    secret.chmod(0o600)
    pid_file = base / "tls.pid"
    tls_port = free_port()
    (data / "certward.toml").write_text(_config(base, slots, pid_file, receiver.port, secret))
    (slots / "https").mkdir(mode=0o700, parents=True)
    tls_log = (base / "tls.log").open("wb")
    tls = subprocess.Popen(
        [sys.executable, str(_TLS_SERVER), str(slots / "https"), str(tls_port), str(pid_file)],
        stdout=tls_log,
        stderr=subprocess.STDOUT,
    )
    try:
        assert poll_until(pid_file.exists, within=30), "the TLS test server did not start"
        with running_service(data, workers=workers, log=base / "serve.log") as service:
            yield SlotService(service, slots, tls_port, receiver)
    finally:
        tls.terminate()
        tls.wait(timeout=10)
        tls_log.close()
        http.shutdown()
