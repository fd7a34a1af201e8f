"""Certificate serial numbers: random, positive, at most 20 octets, printed as lowercase hex."""

from __future__ import annotations

import os
import re

from certward.errors import InvalidInput

__all__ = ["parse_serial", "random_serial", "serial_hex"]

_HEX = re.compile(r"^(0x)?[0-9a-f]+$")


def random_serial() -> int:
    """A random 159-bit serial (RFC 5280: positive, ≤ 20 octets; CA/B: ≥ 64 random bits)."""
    value = int.from_bytes(os.urandom(20), "big") >> 1
    # Keep at least 128 significant bits so serials never look short or collide.
    return value | (1 << 150)


def serial_hex(serial: int) -> str:
    """The canonical text of a serial: lowercase hex, no leading zeros."""
    return format(serial, "x")


def parse_serial(text: str) -> int:
    """A serial given as hex, with or without colons, ``0x`` or leading zeros."""
    cleaned = text.strip().lower().replace(":", "")
    if not cleaned or len(cleaned) > 42 or not _HEX.match(cleaned):
        raise InvalidInput(f"serial {text!r} is not a hexadecimal number")
    return int(cleaned.removeprefix("0x"), 16)
