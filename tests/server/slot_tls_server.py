"""A tiny TLS server that serves a slot's files and reloads them on SIGHUP (a test service).

``python slot_tls_server.py DIR PORT PID_FILE`` writes its pid, then answers
every TLS connection on 127.0.0.1:PORT with ``HTTP/1.0 200 OK`` using
``DIR/cert.pem`` (certificate, then chain) and ``DIR/key.pem``. Until those
exist it closes connections at once. SIGHUP rebuilds the context, as bmcweb
does when OpenBMC's certificate manager reloads it.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import sys
from pathlib import Path
from types import FrameType


def main() -> None:
    directory, port, pid_file = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    context: list[ssl.SSLContext | None] = [None]

    def load(_signum: int | None = None, _frame: FrameType | None = None) -> None:
        fresh = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            fresh.load_cert_chain(directory / "cert.pem", directory / "key.pem")
        except (OSError, ssl.SSLError) as exc:
            sys.stderr.write(f"reload failed: {exc}\n")
            return
        context[0] = fresh
        sys.stderr.write("reloaded\n")

    signal.signal(signal.SIGHUP, load)
    load()
    listener = socket.create_server(("127.0.0.1", port))
    pid_file.write_text(f"{os.getpid()}\n")
    while True:
        try:
            connection, _ = listener.accept()
        except InterruptedError:
            continue
        current = context[0]
        with connection:
            if current is None:
                continue
            try:
                with current.wrap_socket(connection, server_side=True) as tls:
                    tls.recv(1024)
                    tls.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
            except (OSError, ssl.SSLError):
                continue


if __name__ == "__main__":
    main()
