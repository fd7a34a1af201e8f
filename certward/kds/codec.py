"""Limax ``OctetsStream``: the byte encoding of every KDS message.

``long`` is 8 bytes big-endian two's complement, ``int`` 4 bytes big-endian. A *size*
(the length prefix of byte strings, and counts) takes 1 to 5 bytes::

    0 <= n < 0x80         0xxxxxxx
    n < 0x4000            10xxxxxx xxxxxxxx
    n < 0x200000          110xxxxx xxxxxxxx xxxxxxxx
    n < 0x10000000        1110xxxx xxxxxxxx xxxxxxxx xxxxxxxx
    otherwise, negative   0xf0 then the 4-byte int

The reader mirrors Limax's ``unmarshal_size`` exactly, non-minimal forms included, so
every payload a Limax peer accepts is accepted here too; what Limax would reject (a
truncated value, a negative length, a length past the end) and text that is not UTF-8
raise :class:`~certward.errors.MalformedKeyIdent`, as the reader only ever sees KDS
payloads.
"""

from __future__ import annotations

import struct
from typing import Self

from certward.errors import MalformedKeyIdent

__all__ = ["OctetsReader", "OctetsWriter"]

_LONG = struct.Struct(">q")
_INT = struct.Struct(">i")
_INT_MIN = -(2**31)
_INT_MAX = 2**31 - 1
_LONG_MIN = -(2**63)
_LONG_MAX = 2**63 - 1


def _check_int(value: int) -> None:
    if not _INT_MIN <= value <= _INT_MAX:
        raise ValueError(f"{value} does not fit a 32-bit int")


class OctetsWriter:
    """Builds a Limax ``OctetsStream``; every method returns the writer for chaining."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = bytearray()

    def long(self, value: int) -> Self:
        """Append a signed 64-bit big-endian integer."""
        if not _LONG_MIN <= value <= _LONG_MAX:
            raise ValueError(f"{value} does not fit a 64-bit long")
        self._buffer += _LONG.pack(value)
        return self

    def int32(self, value: int) -> Self:
        """Append a signed 32-bit big-endian integer."""
        _check_int(value)
        self._buffer += _INT.pack(value)
        return self

    def size(self, value: int) -> Self:
        """Append a size prefix (``marshal_size``): 1 to 5 bytes, see the module doc."""
        _check_int(value)
        if 0 <= value < 0x80:
            self._buffer.append(value)
        elif 0 <= value < 0x4000:
            self._buffer += bytes(((value >> 8) | 0x80, value & 0xFF))
        elif 0 <= value < 0x200000:
            self._buffer += bytes(((value >> 16) | 0xC0, (value >> 8) & 0xFF, value & 0xFF))
        elif 0 <= value < 0x10000000:
            self._buffer += bytes(
                ((value >> 24) | 0xE0, (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF)
            )
        else:
            self._buffer.append(0xF0)
            self._buffer += _INT.pack(value)
        return self

    def octets(self, data: bytes) -> Self:
        """Append a byte string: its size, then the bytes."""
        self.size(len(data))
        self._buffer += data
        return self

    def string(self, text: str) -> Self:
        """Append a string as its UTF-8 bytes (``octets``)."""
        return self.octets(text.encode("utf-8"))

    def getvalue(self) -> bytes:
        """The bytes written so far."""
        return bytes(self._buffer)


class OctetsReader:
    """Reads a Limax ``OctetsStream`` from the front; raises ``MalformedKeyIdent``."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = bytes(data)
        self._pos = 0

    def _take(self, count: int) -> bytes:
        end = self._pos + count
        if count < 0 or end > len(self._data):
            raise MalformedKeyIdent("truncated KDS payload")
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def long(self) -> int:
        """Read a signed 64-bit big-endian integer."""
        value: int = _LONG.unpack(self._take(8))[0]
        return value

    def int32(self) -> int:
        """Read a signed 32-bit big-endian integer."""
        value: int = _INT.unpack(self._take(4))[0]
        return value

    def size(self) -> int:
        """Read a size prefix; the 5-byte form may carry a negative int, as in Limax."""
        first = self._take(1)[0]
        if first & 0x80 == 0:
            return first
        if first & 0x40 == 0:
            return ((first & 0x3F) << 8) | self._take(1)[0]
        if first & 0x20 == 0:
            return ((first & 0x1F) << 16) | int.from_bytes(self._take(2), "big")
        if first & 0x10 == 0:
            return ((first & 0x0F) << 24) | int.from_bytes(self._take(3), "big")
        return self.int32()

    def octets(self) -> bytes:
        """Read a size-prefixed byte string (a negative size is malformed)."""
        length = self.size()
        if length < 0:
            raise MalformedKeyIdent("negative length in KDS payload")
        return self._take(length)

    def string(self) -> str:
        """Read a size-prefixed UTF-8 string."""
        try:
            return self.octets().decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedKeyIdent("KDS payload text is not UTF-8") from None

    def remaining(self) -> int:
        """How many bytes are left unread."""
        return len(self._data) - self._pos
