"""Real challenge servers on high ports, as ACME clients run them: http-01, dns-01, tls-alpn-01.

Each serves what a test puts into its ``answers`` dict, from a daemon thread,
until the ``with`` block ends.
"""

from __future__ import annotations

import hashlib
import http.server
import socket
import ssl
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dns.message
import dns.rdatatype
import dns.rrset
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certward.acme.validation import ACME_IDENTIFIER_OID

__all__ = ["ChallengeServers", "challenge_servers"]


@dataclass
class ChallengeServers:
    """The answers each server gives (tests fill them) and the ports they listen on."""

    http_port: int
    dns_port: int
    tls_port: int
    http_answers: dict[str, str] = field(default_factory=dict)  # token → key authorization
    txt_records: dict[str, list[str]] = field(default_factory=dict)  # name → TXT values
    alpn_key_authorizations: dict[str, str] = field(default_factory=dict)  # name → key authz


class _Http01Handler(http.server.BaseHTTPRequestHandler):
    answers: dict[str, str]

    def do_GET(self) -> None:
        token = self.path.removeprefix("/.well-known/acme-challenge/")
        answer = self.answers.get(token)
        body = (answer or "not found").encode()
        self.send_response(200 if answer is not None else 404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


def _serve_dns(sock: socket.socket, records: dict[str, list[str]], stop: threading.Event) -> None:
    sock.settimeout(0.2)
    while not stop.is_set():
        try:
            data, peer = sock.recvfrom(4096)
        except TimeoutError:
            continue
        except OSError:
            return
        query = dns.message.from_wire(data)
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text().rstrip(".")
        values = records.get(name, [])
        if question.rdtype == dns.rdatatype.TXT and values:
            response.answer.append(
                dns.rrset.from_text_list(
                    question.name, 60, "IN", "TXT", [f'"{value}"' for value in values]
                )
            )
        sock.sendto(response.to_wire(), peer)


def alpn_certificate(name: str, key_authorization: str, directory: Path) -> tuple[Path, Path]:
    """The self-signed tls-alpn-01 certificate (RFC 8737 3) for ``name``; cert and key files."""
    key = ec.generate_private_key(ec.SECP256R1())
    digest = hashlib.sha256(key_authorization.encode()).digest()
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "acme challenge")]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=True)
        .add_extension(
            x509.UnrecognizedExtension(ACME_IDENTIFIER_OID, b"\x04\x20" + digest), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _serve_alpn(
    listener: socket.socket, servers: ChallengeServers, stop: threading.Event, directory: Path
) -> None:
    listener.settimeout(0.2)
    while not stop.is_set():
        try:
            raw, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError:
            return

        def pick(connection: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: object) -> None:
            authz = servers.alpn_key_authorizations.get(name or "")
            if authz is None:
                return
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.set_alpn_protocols(["acme-tls/1"])
            context.load_cert_chain(*alpn_certificate(name or "", authz, directory))
            connection.context = context

        base = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        base.set_alpn_protocols(["acme-tls/1"])
        base.load_cert_chain(*alpn_certificate("default.invalid", "none", directory))
        base.sni_callback = pick
        raw.settimeout(5)
        try:
            with base.wrap_socket(raw, server_side=True):
                pass
        except (ssl.SSLError, OSError):
            raw.close()


def _listening(kind: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, kind)
    sock.bind(("127.0.0.1", 0))
    if kind == socket.SOCK_STREAM:
        sock.listen(16)
    return sock


@contextmanager
def challenge_servers() -> Iterator[ChallengeServers]:
    """An http-01, a DNS (UDP) and a tls-alpn-01 server on free ports of 127.0.0.1."""
    stop = threading.Event()
    dns_socket = _listening(socket.SOCK_DGRAM)
    alpn_socket = _listening(socket.SOCK_STREAM)
    handler = type("Handler", (_Http01Handler,), {"answers": {}})
    http_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    servers = ChallengeServers(
        http_port=http_server.server_address[1],
        dns_port=dns_socket.getsockname()[1],
        tls_port=alpn_socket.getsockname()[1],
        http_answers=handler.answers,
    )
    with tempfile.TemporaryDirectory(prefix="alpn-") as tmp:
        threads = [
            threading.Thread(target=http_server.serve_forever, daemon=True),
            threading.Thread(
                target=_serve_dns, args=(dns_socket, servers.txt_records, stop), daemon=True
            ),
            threading.Thread(
                target=_serve_alpn, args=(alpn_socket, servers, stop, Path(tmp)), daemon=True
            ),
        ]
        for thread in threads:
            thread.start()
        try:
            yield servers
        finally:
            stop.set()
            http_server.shutdown()
            http_server.server_close()
            dns_socket.close()
            alpn_socket.close()
            for thread in threads:
                thread.join(timeout=5)
