"""A tiny DER encoder (and a one-level reader) for the few structures we lay out by hand.

Everything here is byte layout from X.690; no cryptography happens in this module.
It exists so that hot paths (CRLs with a million entries) can encode a structure
once and join the bytes later, which pyca/cryptography's builders cannot do.
Every function is tested against cryptography's own encoder and parser.
"""

from __future__ import annotations

import datetime as dt

from certward.errors import InvalidInput, MalformedData

__all__ = [
    "TAG_BIT_STRING",
    "TAG_CONTEXT_0",
    "TAG_ENUMERATED",
    "TAG_GENERALIZED_TIME",
    "TAG_INTEGER",
    "TAG_OCTET_STRING",
    "TAG_OID",
    "TAG_SEQUENCE",
    "TAG_UTC_TIME",
    "encode_bit_string",
    "encode_enumerated",
    "encode_integer",
    "encode_length",
    "encode_octet_string",
    "encode_oid",
    "encode_sequence",
    "encode_time",
    "read_tlv",
    "tlv",
]

TAG_INTEGER = 0x02
TAG_BIT_STRING = 0x03
TAG_OCTET_STRING = 0x04
TAG_OID = 0x06
TAG_ENUMERATED = 0x0A
TAG_UTC_TIME = 0x17
TAG_GENERALIZED_TIME = 0x18
TAG_SEQUENCE = 0x30  # constructed SEQUENCE / SEQUENCE OF
TAG_CONTEXT_0 = 0xA0  # [0] constructed, e.g. crlExtensions

_ZERO = dt.timedelta(0)


def encode_length(n: int) -> bytes:
    """The DER length octets for ``n`` content bytes (short form below 128, else long form)."""
    if n < 0:
        raise InvalidInput(f"DER length must not be negative, got {n}")
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    if len(body) > 126:  # 0xFF is reserved by X.690 8.1.3.5
        raise InvalidInput("DER length is too large")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, content: bytes) -> bytes:
    """One element: a single-octet ``tag``, the DER length and ``content``."""
    if not 0 <= tag <= 0xFF or tag & 0x1F == 0x1F:
        # High tag numbers need multi-octet tags, which nothing in X.509 uses.
        raise InvalidInput(f"only single-octet DER tags are supported, got {tag:#x}")
    return bytes((tag,)) + encode_length(len(content)) + content


def _integer_content(value: int) -> bytes:
    # Minimal two's complement: one more bit than the magnitude needs leaves room
    # for the sign bit, so 128 becomes 00 80 and -128 stays 80.
    magnitude = value if value >= 0 else ~value
    return value.to_bytes(magnitude.bit_length() // 8 + 1, "big", signed=True)


def encode_integer(value: int) -> bytes:
    """An INTEGER in minimal two's complement (serial numbers, CRL numbers)."""
    return tlv(TAG_INTEGER, _integer_content(value))


def encode_enumerated(value: int) -> bytes:
    """An ENUMERATED, encoded like an INTEGER with its own tag (e.g. CRLReason)."""
    return tlv(TAG_ENUMERATED, _integer_content(value))


def encode_oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER from its dotted form, e.g. ``"2.5.29.21"``."""
    try:
        arcs = [int(part) for part in dotted.split(".")]
    except ValueError:
        raise InvalidInput(f"not a dotted object identifier: {dotted!r}") from None
    if len(arcs) < 2 or any(arc < 0 for arc in arcs) or arcs[0] > 2:
        raise InvalidInput(f"not a valid object identifier: {dotted!r}")
    if arcs[0] < 2 and arcs[1] > 39:
        raise InvalidInput(f"second arc must be below 40 under arc {arcs[0]}: {dotted!r}")
    content = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        # Base 128, most significant group first, continuation bit on all but the last.
        groups = [arc & 0x7F]
        rest = arc >> 7
        while rest:
            groups.append(0x80 | (rest & 0x7F))
            rest >>= 7
        content.extend(reversed(groups))
    return tlv(TAG_OID, bytes(content))


def encode_octet_string(content: bytes) -> bytes:
    """An OCTET STRING (e.g. the extnValue wrapper of an extension)."""
    return tlv(TAG_OCTET_STRING, content)


def encode_bit_string(content: bytes, *, unused_bits: int = 0) -> bytes:
    """A BIT STRING; signatures are whole octets, hence ``unused_bits=0`` by default."""
    if not 0 <= unused_bits <= 7 or (unused_bits and not content):
        raise InvalidInput(f"invalid number of unused bits: {unused_bits}")
    return tlv(TAG_BIT_STRING, bytes((unused_bits,)) + content)


def encode_sequence(*parts: bytes) -> bytes:
    """A SEQUENCE whose content is the already-encoded ``parts``, in order."""
    return tlv(TAG_SEQUENCE, b"".join(parts))


def encode_time(moment: dt.datetime) -> bytes:
    """An X.509 Time: UTCTime for 1950-2049, GeneralizedTime otherwise (RFC 5280 4.1.2.5).

    ``moment`` must be timezone-aware, in UTC, with whole seconds: DER times
    carry no fraction here and silently dropping one would change the value.
    """
    offset = moment.utcoffset()
    if offset is None:
        raise InvalidInput("times must be timezone-aware (UTC), got a naive datetime")
    if offset != _ZERO:
        raise InvalidInput(f"times must be in UTC, got offset {offset}")
    if moment.microsecond:
        raise InvalidInput("times must have whole seconds (RFC 5280 allows no fraction)")
    clock = f"{moment.month:02d}{moment.day:02d}{moment.hour:02d}{moment.minute:02d}"
    clock += f"{moment.second:02d}Z"
    if 1950 <= moment.year <= 2049:
        return tlv(TAG_UTC_TIME, f"{moment.year % 100:02d}{clock}".encode("ascii"))
    return tlv(TAG_GENERALIZED_TIME, f"{moment.year:04d}{clock}".encode("ascii"))


def read_tlv(data: bytes, offset: int = 0) -> tuple[int, int, int]:
    """The element starting at ``offset``: ``(tag, header_len, content_len)``.

    The next sibling starts at ``offset + header_len + content_len``; the
    content at ``offset + header_len``. Raises MalformedData when the element
    is truncated, uses a multi-octet tag or an indefinite/non-minimal length.
    """
    end = len(data)
    if offset + 2 > end:
        raise MalformedData(f"DER element at offset {offset} is truncated")
    tag = data[offset]
    if tag & 0x1F == 0x1F:
        raise MalformedData(f"multi-octet DER tag at offset {offset} is not supported")
    first = data[offset + 1]
    if first < 0x80:
        header_len, content_len = 2, first
    else:
        count = first & 0x7F
        if count == 0:
            raise MalformedData(f"indefinite length at offset {offset} is not DER")
        if count == 0x7F or offset + 2 + count > end:
            raise MalformedData(f"DER length at offset {offset} is truncated or reserved")
        length_bytes = data[offset + 2 : offset + 2 + count]
        content_len = int.from_bytes(length_bytes, "big")
        if content_len < 0x80 or length_bytes[0] == 0:
            raise MalformedData(f"DER length at offset {offset} is not minimal")
        header_len = 2 + count
    if offset + header_len + content_len > end:
        raise MalformedData(f"DER element at offset {offset} runs past the end of the data")
    return tag, header_len, content_len
