"""``certward serve``'s shared listening socket (several workers)."""

from __future__ import annotations

import socket

import uvicorn

from certward.server.serve import listening_socket
from tests.server.service import free_port


def test_connections_accepted_by_the_workers_socket_send_without_nagle_delays() -> None:
    config = uvicorn.Config("certward.server.serve:app_factory", host="127.0.0.1", port=free_port())
    listener = listening_socket(config)
    try:
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        listener.listen()  # as each worker's server does
        with socket.create_connection(("127.0.0.1", config.port)):
            accepted, _ = listener.accept()
            with accepted:
                # What a worker writes answers on goes out at once (no wait for an ACK).
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        listener.close()
