"""OpenSSL's subject-name hash (``openssl x509 -hash``), computed without OpenSSL.

OpenSSL's ``X509_NAME_hash_ex`` hashes a *canonical* encoding of the name, so
names that differ only in case, surrounding white space or string type hash
alike; hash directories (``CApath``) are keyed by this value. The canonical
form (OpenSSL ``crypto/x509/x_name.c``, ``x509_name_canon`` and
``asn1_string_canon``):

* each text value (UTF8String, BMPString, UniversalString, PrintableString,
  T61String, IA5String, VisibleString) becomes UTF-8, loses leading and trailing
  ASCII white space, has inner runs of ASCII white space collapsed to one space
  and ASCII letters lowercased, and is re-encoded as a UTF8String;
* every other value is kept byte for byte;
* each RDN is DER-encoded as a SET OF (members sorted), and the RDNs are
  concatenated *without* the outer SEQUENCE.

The hash is the first four bytes of SHA-1 over that encoding, read
little-endian and printed as eight lowercase hex digits.
"""

from __future__ import annotations

from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from certward.errors import MalformedData

__all__ = ["certificate_subject_hash", "crl_issuer_hash", "name_hash"]

_TAG_UTF8_STRING = 0x0C
_TAG_SEQUENCE = 0x30
_TAG_SET = 0x31

# Universal tags of the string types OpenSSL canonicalises (ASN1_MASK_CANON),
# mapped to the width of one character in bytes. One-byte types are read as
# Latin-1, as ASN1_STRING_to_UTF8 does (each byte is one code point).
_CANON_CHAR_WIDTH: dict[int, int] = {
    0x0C: 0,  # UTF8String: variable width
    0x13: 1,  # PrintableString
    0x14: 1,  # T61String
    0x16: 1,  # IA5String
    0x1A: 1,  # VisibleString
    0x1E: 2,  # BMPString (UCS-2, not UTF-16: OpenSSL has no surrogate pairs here)
    0x1C: 4,  # UniversalString (UCS-4)
}

# ossl_isspace: the C locale's isspace, ASCII only.
_ASCII_SPACE = frozenset(b" \t\n\v\f\r")


def name_hash(name: x509.Name) -> str:
    """The 8-hex-digit hash OpenSSL prints for ``name`` (``X509_NAME_hash_ex``).

    Raises ``MalformedData`` when a text value does not decode, where OpenSSL
    would fail to hash the name too.
    """
    digest = hashes.Hash(hashes.SHA1())  # noqa: S303 -- OpenSSL's file naming, not security
    digest.update(_canonical_name_encoding(name))
    return f"{int.from_bytes(digest.finalize()[:4], 'little'):08x}"


def certificate_subject_hash(certificate: x509.Certificate) -> str:
    """The hash of the certificate's subject (``openssl x509 -subject_hash``)."""
    return name_hash(certificate.subject)


def crl_issuer_hash(crl: x509.CertificateRevocationList) -> str:
    """The hash of the CRL's issuer (``openssl crl -hash``)."""
    return name_hash(crl.issuer)


def _canonical_name_encoding(name: x509.Name) -> bytes:
    """OpenSSL's canonical encoding of ``name``: the DER of its RDN sets, concatenated."""
    # Work from the DER rather than cryptography's decoded attributes so that
    # OIDs and non-text values are carried over exactly as encoded.
    rdns = _read_exactly_one(name.public_bytes(), _TAG_SEQUENCE)
    out = bytearray()
    while rdns:
        rdn, rdns = _read_tlv(rdns, expected_tag=_TAG_SET)
        avas = rdn.content
        members: list[bytes] = []
        while avas:
            ava, avas = _read_tlv(avas, expected_tag=_TAG_SEQUENCE)
            members.append(_canonical_attribute(ava.content))
        # DER orders SET OF members by their encodings; OpenSSL's der_cmp
        # (memcmp on the common prefix, then shorter first) is bytes ordering.
        out += _encode_tlv(_TAG_SET, b"".join(sorted(members)))
    return bytes(out)


def _canonical_attribute(ava: bytes) -> bytes:
    oid, rest = _read_tlv(ava, expected_tag=0x06)
    value, rest = _read_tlv(rest)
    if rest:
        raise MalformedData("name attribute has trailing data after its value")
    if value.tag not in _CANON_CHAR_WIDTH:
        return _encode_tlv(_TAG_SEQUENCE, oid.encoded + value.encoded)
    text = _canonical_text(_to_utf8(value.tag, value.content))
    return _encode_tlv(_TAG_SEQUENCE, oid.encoded + _encode_tlv(_TAG_UTF8_STRING, text))


def _to_utf8(tag: int, content: bytes) -> bytes:
    width = _CANON_CHAR_WIDTH[tag]
    try:
        if width == 0:
            return content.decode("utf-8").encode("utf-8")
        if width == 1:
            return content.decode("latin-1").encode("utf-8")
        if len(content) % width:
            raise MalformedData(f"string of {len(content)} bytes is not a whole number of chars")
        code_points = [
            int.from_bytes(content[i : i + width], "big") for i in range(0, len(content), width)
        ]
        # chr() refuses > U+10FFFF; lone surrogates are refused by the encode
        # below, as OpenSSL's UTF8_putc refuses them.
        return "".join(chr(cp) for cp in code_points).encode("utf-8")
    except (UnicodeError, ValueError) as exc:
        raise MalformedData("name attribute holds a string that does not decode") from exc


def _canonical_text(utf8: bytes) -> bytes:
    """asn1_string_canon: trim and collapse ASCII white space, lowercase ASCII letters."""
    start, end = 0, len(utf8)
    while start < end and utf8[start] in _ASCII_SPACE:
        start += 1
    while end > start and utf8[end - 1] in _ASCII_SPACE:
        end -= 1
    out = bytearray()
    previous_was_space = False
    for byte in utf8[start:end]:
        if byte in _ASCII_SPACE:
            if not previous_was_space:
                out.append(0x20)
            previous_was_space = True
            continue
        previous_was_space = False
        # Bytes of multi-byte UTF-8 sequences are >= 0x80 and are copied as is.
        out.append(byte + 0x20 if 0x41 <= byte <= 0x5A else byte)
    return bytes(out)


class _TLV(NamedTuple):
    """One decoded DER element: its tag, contents and full encoding."""

    tag: int
    content: bytes
    encoded: bytes


def _read_exactly_one(data: bytes, tag: int) -> bytes:
    element, rest = _read_tlv(data, expected_tag=tag)
    if rest:
        raise MalformedData("name has trailing data")
    return element.content


def _read_tlv(data: bytes, *, expected_tag: int | None = None) -> tuple[_TLV, bytes]:
    """Split the first DER element off ``data``.

    ``tag`` is the identifier octet for low tag numbers, which is all a Name
    holds in practice; a high-tag-number identifier is kept whole in
    ``encoded`` and reported as tag -1 so it is never treated as text.
    """
    if len(data) < 2:
        raise MalformedData("truncated DER element in name")
    tag = data[0]
    pos = 1
    if tag & 0x1F == 0x1F:
        while pos < len(data) and data[pos] & 0x80:
            pos += 1
        pos += 1
        tag = -1
    if pos >= len(data):
        raise MalformedData("truncated DER element in name")
    length = data[pos]
    pos += 1
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or pos + count > len(data):
            raise MalformedData("bad DER length in name")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise MalformedData("truncated DER element in name")
    if expected_tag is not None and tag != expected_tag:
        raise MalformedData(f"expected DER tag 0x{expected_tag:02x} in name, got 0x{data[0]:02x}")
    return _TLV(tag, data[pos:end], data[:end]), data[end:]


def _encode_tlv(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return bytes((tag, length)) + content
    size = (length.bit_length() + 7) // 8
    return bytes((tag, 0x80 | size)) + length.to_bytes(size, "big") + content
