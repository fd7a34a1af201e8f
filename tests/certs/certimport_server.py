"""A real TLS service for the import and CRL-swap tests, and a client that reports what happened.

    with tls_service(trust.base) as service:           # a thread accepting on 127.0.0.1
        outcome = connect(service.port, ca=..., cert=..., key=...)
        assert outcome.accepted and outcome.served_by == "localhost"

The service answers each accepted connection with ``hello <client CN>`` and
closes; a handshake the service refuses is recorded in ``service.refusals``.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

__all__ = ["Outcome", "TLSService", "connect", "tls_service"]

TIMEOUT = 20


@dataclass
class TLSService:
    """A listening TLS socket served by a thread."""

    port: int
    refusals: list[str] = field(default_factory=list)


def _serve(listener: socket.socket, context: ssl.SSLContext, service: TLSService) -> None:
    while True:
        try:
            raw, _ = listener.accept()
        except OSError:
            return  # the listener was closed: the test is over
        with raw:
            raw.settimeout(TIMEOUT)
            try:
                with context.wrap_socket(raw, server_side=True) as tls:
                    peer = tls.getpeercert(binary_form=True)
                    name = "?"
                    if peer:
                        subject = x509.load_der_x509_certificate(peer).subject
                        name = str(subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)
                    tls.recv(64)
                    tls.sendall(f"hello {name}\n".encode())
            except (ssl.SSLError, OSError) as exc:
                service.refusals.append(str(exc))


@contextlib.contextmanager
def tls_service(context: ssl.SSLContext) -> Iterator[TLSService]:
    """Serve TLS with ``context`` on a free port of 127.0.0.1 until the block ends."""
    listener = socket.create_server(("127.0.0.1", 0))
    service = TLSService(port=listener.getsockname()[1])
    thread = threading.Thread(target=_serve, args=(listener, context, service), daemon=True)
    thread.start()
    try:
        yield service
    finally:
        # shutdown() wakes the blocked accept() (close() alone does not on Linux).
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        thread.join(TIMEOUT)


@dataclass(frozen=True)
class Outcome:
    """What a client saw: the answer, or the TLS error; and the server's certificate."""

    answer: str | None
    error: str | None
    server_certificate: bytes | None

    @property
    def accepted(self) -> bool:
        return self.answer is not None and self.answer.startswith("hello ")


def connect(port: int, *, ca: Path, cert: Path | None = None, key: Path | None = None) -> Outcome:
    """One TLS 1.3 connection to 127.0.0.1:port presenting ``cert``; never raises for TLS."""
    context = ssl.create_default_context(cafile=str(ca))
    if cert is not None:
        context.load_cert_chain(cert, key)
    server_certificate = None
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            server_certificate = tls.getpeercert(binary_form=True)
            # TLS 1.3: the server checks the client certificate after the client's Finished;
            # a refusal arrives as an alert on the first read.
            tls.sendall(b"hi\n")
            answer = tls.recv(64).decode()
            return Outcome(answer or None, None if answer else "closed", server_certificate)
    except (ssl.SSLError, OSError) as exc:
        return Outcome(None, str(exc), server_certificate)
