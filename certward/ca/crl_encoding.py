"""CRLs assembled from revoked entries encoded once, at revocation time.

pyca/cryptography re-encodes every revoked entry on every CRL it builds, which
costs as much as ``openssl ca -gencrl`` (~15 s at a million entries). Here each
entry's DER is made once by :func:`encode_revoked_entry` and stored; publishing
a CRL only joins those bytes into a TBSCertList that cryptography laid out for
us (issuer, times, extensions, algorithm) and signs it with cryptography.

Layout (RFC 5280 5.1)::

    CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue BIT STRING }
    TBSCertList ::= SEQUENCE { version, signature, issuer, thisUpdate, nextUpdate,
                               revokedCertificates SEQUENCE OF entry OPTIONAL,
                               crlExtensions [0] EXPLICIT Extensions OPTIONAL }
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from certward.crypto.der import (
    TAG_CONTEXT_0,
    TAG_GENERALIZED_TIME,
    TAG_INTEGER,
    TAG_SEQUENCE,
    TAG_UTC_TIME,
    encode_bit_string,
    encode_enumerated,
    encode_integer,
    encode_length,
    encode_octet_string,
    encode_oid,
    encode_sequence,
    encode_time,
    read_tlv,
)
from certward.crypto.keys import SigningKey, key_type_of, signature_hash_for
from certward.errors import CertwardError, InvalidInput, InvalidValidity

__all__ = ["CRLParams", "build_crl", "encode_revoked_entry"]

# RFC 5280 4.1.2.2: serial numbers are positive and at most 20 octets; the same
# bound holds for CRL numbers (5.2.3), which may also be zero.
_MAX_SERIAL = 2**159 - 1

_REASON_CODES: dict[x509.ReasonFlags, int] = {
    x509.ReasonFlags.unspecified: 0,
    x509.ReasonFlags.key_compromise: 1,
    x509.ReasonFlags.ca_compromise: 2,
    x509.ReasonFlags.affiliation_changed: 3,
    x509.ReasonFlags.superseded: 4,
    x509.ReasonFlags.cessation_of_operation: 5,
    x509.ReasonFlags.certificate_hold: 6,
    x509.ReasonFlags.remove_from_crl: 8,
    x509.ReasonFlags.privilege_withdrawn: 9,
    x509.ReasonFlags.aa_compromise: 10,
}

# crlEntryExtensions for each reason, encoded once at import: an entry then costs
# one INTEGER, one Time and a join. Unspecified is absent (RFC 5280 5.3.1: the
# reason code SHOULD be absent rather than "unspecified"); removeFromCRL belongs
# in delta CRLs only, which certward does not issue.
_REASON_EXTENSIONS: dict[x509.ReasonFlags | None, bytes] = {
    reason: encode_sequence(
        encode_sequence(
            encode_oid(x509.oid.CRLEntryExtensionOID.CRL_REASON.dotted_string),
            encode_octet_string(encode_enumerated(code)),
        )
    )
    for reason, code in _REASON_CODES.items()
    if reason not in (x509.ReasonFlags.unspecified, x509.ReasonFlags.remove_from_crl)
}
_REASON_EXTENSIONS[None] = b""
_REASON_EXTENSIONS[x509.ReasonFlags.unspecified] = b""

_TEMPLATE_TBS_TAGS = (
    TAG_INTEGER,  # version v2
    TAG_SEQUENCE,  # signature AlgorithmIdentifier
    TAG_SEQUENCE,  # issuer
    (TAG_UTC_TIME, TAG_GENERALIZED_TIME),  # thisUpdate
    (TAG_UTC_TIME, TAG_GENERALIZED_TIME),  # nextUpdate
    TAG_CONTEXT_0,  # crlExtensions
)


def _utc(moment: dt.datetime, what: str) -> dt.datetime:
    if moment.utcoffset() is None:
        raise InvalidInput(f"{what} must be timezone-aware (UTC), got a naive datetime")
    return moment.astimezone(dt.UTC)


def encode_revoked_entry(
    serial: int, revoked_at: dt.datetime, reason: x509.ReasonFlags | None
) -> bytes:
    """DER of one revokedCertificates entry, to be stored and later joined by build_crl.

    ``revoked_at`` must be timezone-aware; it is converted to UTC and, like
    cryptography's builder, truncated to whole seconds. ``reason`` None or
    ``unspecified`` leaves out the reason extension; ``remove_from_crl`` (delta
    CRLs only) and serials outside 1 .. 2**159-1 raise InvalidInput.
    """
    if not 1 <= serial <= _MAX_SERIAL:
        raise InvalidInput("a certificate serial number must be positive and at most 159 bits")
    if reason is x509.ReasonFlags.remove_from_crl:
        raise InvalidInput("revocation reason removeFromCRL is only allowed in delta CRLs")
    try:
        extensions = _REASON_EXTENSIONS[reason]
    except KeyError:
        raise InvalidInput(f"unknown revocation reason {reason!r}") from None
    revoked_at = _utc(revoked_at, "the revocation time").replace(microsecond=0)
    return encode_sequence(encode_integer(serial), encode_time(revoked_at), extensions)


@dataclass(frozen=True)
class CRLParams:
    """Everything in a CRL except its entries: issuer, times, number and AKI.

    Times must be timezone-aware; like cryptography's builder, fractions of a
    second are dropped in the encoding.
    """

    issuer: x509.Name
    this_update: dt.datetime
    next_update: dt.datetime
    crl_number: int
    authority_key_identifier: x509.AuthorityKeyIdentifier

    def __post_init__(self) -> None:
        this_update = _utc(self.this_update, "thisUpdate")
        next_update = _utc(self.next_update, "nextUpdate")
        if this_update.year < 1950:
            raise InvalidValidity("thisUpdate must be on or after 1950-01-01")
        if next_update <= this_update:
            raise InvalidValidity("nextUpdate must be later than thisUpdate")
        if not 0 <= self.crl_number <= _MAX_SERIAL:
            raise InvalidInput("the CRL number must be non-negative and at most 159 bits")


def build_crl(params: CRLParams, entries: Iterable[bytes], *, private_key: SigningKey) -> bytes:
    """DER of a CRL signed by ``private_key`` listing ``entries`` in the order given.

    ``entries`` are outputs of :func:`encode_revoked_entry`; they are not parsed
    again (that is the point), so nothing else may be passed. Peak memory is
    about the entries plus two copies of the CRL (the TBSCertList and the output).
    """
    key_type_of(private_key)  # KeyTypeNotAllowed for keys certward does not sign with
    hash_algorithm = signature_hash_for(private_key)
    if not isinstance(hash_algorithm, hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None):
        raise CertwardError(f"no CRL signature with {hash_algorithm.name}")
    template = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(params.issuer)
        .last_update(params.this_update)
        .next_update(params.next_update)
        .add_extension(x509.CRLNumber(params.crl_number), critical=False)
        .add_extension(params.authority_key_identifier, critical=False)
        .sign(private_key, hash_algorithm)
    )
    head, extensions = _split_template_tbs(template.tbs_certlist_bytes)

    entry_list = entries if isinstance(entries, list | tuple) else list(entries)
    entries_len = sum(map(len, entry_list))
    # RFC 5280 5.1.2.6: with no revoked certificates the field is absent, not empty.
    revoked_header = bytes((TAG_SEQUENCE,)) + encode_length(entries_len) if entries_len else b""
    tbs_len = len(head) + len(revoked_header) + entries_len + len(extensions)
    # One join over all parts: a million entries are copied exactly once.
    tbs = b"".join(
        itertools.chain(
            (bytes((TAG_SEQUENCE,)), encode_length(tbs_len), head, revoked_header),
            entry_list,
            (extensions,),
        )
    )
    del entry_list  # lets a generator's entries go before the output is built

    signature = encode_bit_string(_sign(private_key, tbs, template.signature_hash_algorithm))
    algorithm = _signature_algorithm(template.public_bytes(serialization.Encoding.DER))
    body_len = len(tbs) + len(algorithm) + len(signature)
    return b"".join((bytes((TAG_SEQUENCE,)), encode_length(body_len), tbs, algorithm, signature))


def _split_template_tbs(tbs: bytes) -> tuple[bytes, bytes]:
    """The template's TBS content before and from its [0] extensions.

    The revokedCertificates field goes between the two. The template is ours, so
    an unexpected shape is a bug (e.g. a cryptography change), not bad input.
    """
    _, header_len, content_len = read_tlv(tbs, 0)
    end = header_len + content_len
    offsets: list[int] = []
    tags: list[int] = []
    position = header_len
    while position < end:
        tag, element_header, element_len = read_tlv(tbs, position)
        offsets.append(position)
        tags.append(tag)
        position += element_header + element_len
    matches = len(tags) == len(_TEMPLATE_TBS_TAGS) and all(
        tag in expected if isinstance(expected, tuple) else tag == expected
        for tag, expected in zip(tags, _TEMPLATE_TBS_TAGS, strict=True)
    )
    if not matches or position != len(tbs):
        raise CertwardError(f"unexpected CRL template layout (tags {[hex(t) for t in tags]})")
    extensions_at = offsets[-1]
    return tbs[header_len:extensions_at], tbs[extensions_at:end]


def _signature_algorithm(certificate_list: bytes) -> bytes:
    """The signatureAlgorithm AlgorithmIdentifier of a DER CertificateList, as is."""
    _, header_len, _ = read_tlv(certificate_list, 0)
    _, tbs_header, tbs_len = read_tlv(certificate_list, header_len)
    start = header_len + tbs_header + tbs_len
    _, algorithm_header, algorithm_len = read_tlv(certificate_list, start)
    return certificate_list[start : start + algorithm_header + algorithm_len]


def _sign(key: SigningKey, data: bytes, algorithm: hashes.HashAlgorithm | None) -> bytes:
    """Sign ``data`` as the template was signed: same key, hash and padding."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    if algorithm is None:
        raise CertwardError(f"CRL template for a {type(key).__name__} has no hash algorithm")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(algorithm))
    if isinstance(key, rsa.RSAPrivateKey):
        # The builder signs RSA with PKCS#1 v1.5 unless told otherwise; we never tell it.
        return key.sign(data, padding.PKCS1v15(), algorithm)
    raise CertwardError(f"no CRL signer for {type(key).__name__}")
