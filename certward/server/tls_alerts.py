"""Make asyncio send the TLS alert when it refuses a handshake.

When OpenSSL rejects a client certificate it queues an alert ("certificate
revoked", "unknown ca"), but asyncio's ``SSLProtocol`` closes the connection on
a handshake error without writing what OpenSSL queued, so the client only sees
a reset. Clients and operators need the reason (seed 004 shows curl printing
``sslv3 alert certificate revoked``), so the server uses a subclass that
flushes the outgoing TLS records before giving up. uvloop's compiled SSL layer
cannot be changed this way, which is why the service runs on asyncio's loop.
"""

from __future__ import annotations

import ssl
from asyncio import sslproto

__all__ = ["install_alert_flushing"]


class AlertFlushingSSLProtocol(sslproto.SSLProtocol):
    """asyncio's SSLProtocol, writing OpenSSL's alert out before a failed handshake closes."""

    def _do_handshake(self) -> None:
        try:
            self._sslobj.do_handshake()  # type: ignore[attr-defined]
        except sslproto.SSLAgainErrors:
            self._process_outgoing()  # type: ignore[attr-defined]
        except ssl.SSLError as exc:
            self._process_outgoing()  # type: ignore[attr-defined]
            self._on_handshake_complete(exc)
        else:
            self._on_handshake_complete(None)


def install_alert_flushing() -> bool:
    """Use :class:`AlertFlushingSSLProtocol` for every TLS server made after this call.

    Returns False (and changes nothing) on a Python whose asyncio SSL layer has
    no ``_do_handshake`` step to wrap.
    """
    if not hasattr(sslproto.SSLProtocol, "_do_handshake"):
        return False
    sslproto.SSLProtocol = AlertFlushingSSLProtocol  # type: ignore[misc]
    return True
