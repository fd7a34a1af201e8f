"""Distinguished names as people type them, and subject alternative names.

Subjects are accepted in the OpenSSL ``-subj`` form (``/CN=web/O=Example``,
``+`` joining a multi-valued RDN, ``\\`` escaping ``/``, ``+`` and ``=``) and in the
RFC 4514 form (``CN=web,O=Example``). SANs are accepted as ``DNS:x``, ``IP:a.b.c.d``,
``URI:u`` and ``email:e`` (the forms of ``openssl -addext subjectAltName``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.x509.oid import NameOID

from certward.errors import InvalidInput, InvalidSubject

__all__ = [
    "common_name_of",
    "format_san",
    "has_control_characters",
    "parse_san",
    "parse_sans",
    "parse_subject",
    "parse_subtrees",
    "san_strings",
]

_ATTRIBUTES: dict[str, x509.ObjectIdentifier] = {
    "CN": NameOID.COMMON_NAME,
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "STREET": NameOID.STREET_ADDRESS,
    "DC": NameOID.DOMAIN_COMPONENT,
    "UID": NameOID.USER_ID,
    "EMAILADDRESS": NameOID.EMAIL_ADDRESS,
    "SERIALNUMBER": NameOID.SERIAL_NUMBER,
    "SN": NameOID.SURNAME,
    "GN": NameOID.GIVEN_NAME,
    "GIVENNAME": NameOID.GIVEN_NAME,
    "TITLE": NameOID.TITLE,
    "POSTALCODE": NameOID.POSTAL_CODE,
    "ORGANIZATIONIDENTIFIER": NameOID.ORGANIZATION_IDENTIFIER,
}

# RFC 5280 upper bounds (ub-common-name etc.); longer values make certificates
# that strict parsers refuse, so refuse them here with a clear message.
_MAX_LENGTH: dict[x509.ObjectIdentifier, int] = {
    NameOID.COMMON_NAME: 64,
    NameOID.ORGANIZATION_NAME: 64,
    NameOID.ORGANIZATIONAL_UNIT_NAME: 64,
    NameOID.LOCALITY_NAME: 128,
    NameOID.STATE_OR_PROVINCE_NAME: 128,
    NameOID.EMAIL_ADDRESS: 255,
    NameOID.SERIAL_NUMBER: 64,
}


def _split_unescaped(text: str, separator: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            current.append(char + following)
        elif char == separator:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def _attribute(pair: str, subject: str) -> x509.NameAttribute[str]:
    key, sep, raw_value = pair.partition("=")
    if not sep:
        raise InvalidSubject(f"subject {subject!r}: {pair!r} is not of the form KEY=value")
    key = key.strip()
    oid = _ATTRIBUTES.get(key.upper())
    if oid is None:
        known = ", ".join(sorted({"CN", "C", "ST", "L", "O", "OU", "DC", "emailAddress"}))
        raise InvalidSubject(f"subject {subject!r}: unknown attribute {key!r} (known: {known}…)")
    value = _unescape(raw_value).strip()
    if has_control_characters(value):
        raise InvalidSubject(f"subject {subject!r}: attribute {key} contains control characters")
    if not value:
        raise InvalidSubject(f"subject {subject!r}: attribute {key} is empty")
    limit = _MAX_LENGTH.get(oid)
    if limit is not None and len(value) > limit:
        raise InvalidSubject(f"subject {subject!r}: {key} is longer than {limit} characters")
    try:
        return x509.NameAttribute(oid, value)
    except ValueError as exc:
        # e.g. a country name that is not two letters
        raise InvalidSubject(f"subject {subject!r}: {key}: {exc}") from None


def has_control_characters(text: str) -> bool:
    """True when ``text`` holds a C0/C1 control character (NUL, newline, DEL…)."""
    return any(ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F for char in text)


def parse_subject(subject: str) -> x509.Name:
    """Parse an OpenSSL ``/K=v/K=v`` or RFC 4514 ``K=v,K=v`` subject into a Name."""
    text = subject.strip()
    if not text:
        raise InvalidSubject("subject is empty")
    if text.startswith("/"):
        rdn_texts = _split_unescaped(text[1:], "/")
        if rdn_texts and rdn_texts[-1] == "":
            rdn_texts.pop()
        if not rdn_texts:
            raise InvalidSubject("subject is empty")
    else:
        # RFC 4514 lists the most specific RDN first; the DER order is the reverse.
        rdn_texts = list(reversed(_split_unescaped(text, ",")))
    rdns: list[x509.RelativeDistinguishedName] = []
    for rdn_text in rdn_texts:
        if not rdn_text.strip():
            raise InvalidSubject(f"subject {subject!r} has an empty component")
        attributes = [_attribute(pair, subject) for pair in _split_unescaped(rdn_text, "+")]
        try:
            rdns.append(x509.RelativeDistinguishedName(attributes))
        except ValueError as exc:
            raise InvalidSubject(f"subject {subject!r}: {exc}") from None
    return x509.Name(rdns)


def common_name_of(name: x509.Name) -> str | None:
    """The last common name of ``name`` (the most specific one), if any."""
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not values:
        return None
    value = values[-1].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


_DNS_LABEL = re.compile(r"^(\*|[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)$", re.IGNORECASE)


def _check_dns_name(value: str) -> str:
    name = value.strip().rstrip(".")
    if not name or len(name) > 253:
        raise InvalidInput(f"DNS name {value!r} is empty or longer than 253 characters")
    try:
        name.encode("ascii")
    except UnicodeEncodeError:
        raise InvalidInput(f"DNS name {value!r} is not ASCII; give the IDNA form (xn--…)") from None
    labels = name.split(".")
    for index, label in enumerate(labels):
        if not _DNS_LABEL.match(label) or (label == "*" and index != 0):
            raise InvalidInput(f"DNS name {value!r} is not a valid host name")
    return name.lower()


def _ascii_san(
    kind: type[x509.UniformResourceIdentifier] | type[x509.RFC822Name], text: str, value: str
) -> x509.GeneralName:
    # cryptography refuses non-ASCII URIs and e-mail addresses with a bare ValueError.
    try:
        return kind(value)
    except ValueError:
        raise InvalidInput(f"SAN {text!r} is not ASCII; give the IDNA form (xn--…)") from None


def parse_san(text: str) -> x509.GeneralName:
    """Parse one ``TYPE:value`` SAN (DNS, IP, URI, email)."""
    kind, sep, value = text.partition(":")
    if not sep:
        raise InvalidInput(f"SAN {text!r} must be TYPE:value with TYPE one of DNS, IP, URI, email")
    kind = kind.strip().lower()
    value = value.strip()
    if kind == "dns":
        return x509.DNSName(_check_dns_name(value))
    if kind in ("ip", "ip address"):
        try:
            return x509.IPAddress(ipaddress.ip_address(value))
        except ValueError:
            raise InvalidInput(f"SAN {text!r}: {value!r} is not an IP address") from None
    if kind == "uri":
        if not re.match(r"^[a-z][a-z0-9+.-]*:\S+$", value, re.IGNORECASE):
            raise InvalidInput(f"SAN {text!r}: {value!r} is not an absolute URI")
        return _ascii_san(x509.UniformResourceIdentifier, text, value)
    if kind == "email":
        if not re.match(r"^[^@\s]+@[^@\s]+$", value):
            raise InvalidInput(f"SAN {text!r}: {value!r} is not an e-mail address")
        return _ascii_san(x509.RFC822Name, text, value)
    raise InvalidInput(f"SAN {text!r}: unknown type {kind!r}; use DNS, IP, URI or email")


def parse_sans(texts: Iterable[str]) -> tuple[x509.GeneralName, ...]:
    """Parse several SANs, dropping exact duplicates while keeping their order."""
    result: list[x509.GeneralName] = []
    for text in texts:
        name = parse_san(text)
        if name not in result:
            result.append(name)
    return tuple(result)


def format_san(name: x509.GeneralName) -> str:
    """The ``TYPE:value`` text of a SAN (the inverse of :func:`parse_san`)."""
    if isinstance(name, x509.DNSName):
        return f"DNS:{name.value}"
    if isinstance(name, x509.IPAddress):
        return f"IP:{name.value}"
    if isinstance(name, x509.UniformResourceIdentifier):
        return f"URI:{name.value}"
    if isinstance(name, x509.RFC822Name):
        return f"email:{name.value}"
    return f"{type(name).__name__}:{name.value}"


def san_strings(names: Sequence[x509.GeneralName]) -> list[str]:
    """Every SAN as ``TYPE:value`` text."""
    return [format_san(name) for name in names]


def parse_subtrees(texts: Iterable[str]) -> tuple[x509.GeneralName, ...]:
    """Name-constraint subtrees: ``DNS:example.com``, ``IP:10.0.0.0/8``, ``email:example.com``."""
    subtrees: list[x509.GeneralName] = []
    for text in texts:
        kind, _, value = text.partition(":")
        kind = kind.strip().lower()
        value = value.strip()
        if kind == "ip":
            try:
                subtrees.append(x509.IPAddress(ipaddress.ip_network(value, strict=True)))
            except ValueError:
                raise InvalidInput(
                    f"name constraint {text!r}: {value!r} is not a network"
                ) from None
        elif kind == "dns":
            subtrees.append(x509.DNSName(_check_dns_name(value.lstrip("."))))
        elif kind == "email":
            subtrees.append(x509.RFC822Name(value))
        else:
            raise InvalidInput(f"name constraint {text!r}: use DNS:, IP: (a network) or email:")
    return tuple(subtrees)
