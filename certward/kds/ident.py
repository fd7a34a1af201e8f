"""KeyIdent: which key a message was made with (timestamp, nonce, group), and group URIs.

A client certificate names its groups as SAN URIs, each with an optional fragment
that sets the nonce precision (``urn:prjA#10s``). The group itself is the URI with the
fragment removed; the precision is how many milliseconds one nonce value covers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from certward.errors import MalformedKeyIdent
from certward.kds.codec import OctetsReader, OctetsWriter

__all__ = [
    "CURRENT_TIMESTAMP",
    "DEFAULT_PRECISION_MS",
    "MAX_IDENT_BYTES",
    "KeyIdent",
    "group_of",
    "parse_precision",
    "precision_ms",
]

CURRENT_TIMESTAMP = -1
"""The timestamp a sender asks with: "whatever master key is current"."""

MAX_IDENT_BYTES = 4096
"""The largest ident a server reads (Limax's ``postLimit``)."""

DEFAULT_PRECISION_MS = 3_600_000
"""Nonce precision when a group URI has no usable fragment (Limax's default, 1 hour)."""

_LONG_MIN = -(2**63)
_LONG_MAX = 2**63 - 1
_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000}


@dataclass(frozen=True, slots=True)
class KeyIdent:
    """The wire name of a key: ``long timestamp, long nonce, String group``."""

    timestamp: int
    nonce: int
    group: str

    def __post_init__(self) -> None:
        for name in ("timestamp", "nonce"):
            value = getattr(self, name)
            if not _LONG_MIN <= value <= _LONG_MAX:
                raise ValueError(f"KeyIdent.{name} does not fit a 64-bit long")

    def encode(self) -> bytes:
        """The marshalled ident (what travels with a message and in a key request)."""
        return OctetsWriter().long(self.timestamp).long(self.nonce).string(self.group).getvalue()

    @classmethod
    def decode(cls, data: bytes) -> Self:
        """Parse a marshalled ident; anything else (also trailing bytes) is malformed."""
        if len(data) > MAX_IDENT_BYTES:
            raise MalformedKeyIdent(f"key ident longer than {MAX_IDENT_BYTES} bytes")
        reader = OctetsReader(data)
        ident = cls(reader.long(), reader.long(), reader.string())
        if reader.remaining():
            raise MalformedKeyIdent("trailing bytes after the key ident")
        return ident

    def text(self) -> str:
        """Limax's ``toString``: the form hashed into the key, ``"ts nonce group"``."""
        return f"{self.timestamp} {self.nonce} {self.group}"

    def with_timestamp(self, timestamp: int) -> KeyIdent:
        """The same nonce and group under another master-key timestamp."""
        return KeyIdent(timestamp, self.nonce, self.group)


def group_of(uri: str) -> str:
    """The group a SAN URI names: the URI without its fragment (``scheme:ssp``)."""
    return uri.split("#", 1)[0]


def parse_precision(fragment: str) -> int | None:
    """Milliseconds of a precision fragment (``10s``, ``5m``, ``2h``, ``250``), else None.

    Units in either case; bare digits are milliseconds. Zero (Limax would divide by zero),
    negative values and values past a 64-bit long give None.
    """
    if not fragment:
        return None
    scale = _UNIT_MS.get(fragment[-1].lower())
    digits = fragment[:-1] if scale is not None else fragment
    digits = digits.removeprefix("+")
    if not digits.isascii() or not digits.isdigit():
        return None
    value = int(digits) * (scale or 1)
    if value <= 0 or value > _LONG_MAX:
        return None
    return value


def precision_ms(uri: str) -> int:
    """Nonce precision of a group URI, from its fragment, in milliseconds.

    A missing or unparsable fragment gives :data:`DEFAULT_PRECISION_MS`, as in Limax.
    """
    _, _, fragment = uri.partition("#")
    precision = parse_precision(fragment)
    return DEFAULT_PRECISION_MS if precision is None else precision
