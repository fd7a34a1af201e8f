"""KeyResponse: the server's answer to a key request (Limax ``KeyResponse``).

Wire: ``long timestamp, bytes key, size count, count x bytes address`` where each
address is the raw 4-byte (IPv4) or 16-byte (IPv6) form of another KDS node (the
"random servers" a client may fail over to).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from certward.errors import MalformedKeyIdent
from certward.kds.codec import OctetsReader, OctetsWriter

__all__ = ["KeyResponse"]

_ADDRESS_LENGTHS = (4, 16)


@dataclass(frozen=True, slots=True)
class KeyResponse:
    """A key under the master key of ``timestamp``, plus addresses of other nodes."""

    timestamp: int
    key: bytes
    servers: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        for address in self.servers:
            if len(address) not in _ADDRESS_LENGTHS:
                raise ValueError("a server address is 4 (IPv4) or 16 (IPv6) raw bytes")

    def __repr__(self) -> str:
        # The key is a secret: keep it out of logs and tracebacks.
        return (
            f"KeyResponse(timestamp={self.timestamp}, key=<{len(self.key)} bytes>, "
            f"servers={len(self.servers)})"
        )

    def encode(self) -> bytes:
        """The marshalled response body."""
        writer = OctetsWriter().long(self.timestamp).octets(self.key).size(len(self.servers))
        for address in self.servers:
            writer.octets(address)
        return writer.getvalue()

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse a response body; garbage raises ``MalformedKeyIdent``.

        Addresses of another length are skipped, as Limax does.
        """
        reader = OctetsReader(data)
        timestamp = reader.long()
        key = reader.octets()
        count = reader.size()
        if count < 0:
            raise MalformedKeyIdent("negative server count in KDS response")
        servers = []
        for _ in range(count):
            address = reader.octets()
            if len(address) in _ADDRESS_LENGTHS:
                servers.append(address)
        if reader.remaining():
            raise MalformedKeyIdent("trailing bytes after the KDS response")
        return cls(timestamp, key, tuple(servers))
