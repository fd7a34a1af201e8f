"""The tiny DER encoder agrees with pyca/cryptography's encoder byte for byte."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from certward.crypto.der import (
    TAG_GENERALIZED_TIME,
    TAG_OCTET_STRING,
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
    tlv,
)
from certward.errors import InvalidInput, MalformedData

_SIGNING_KEY = ec.generate_private_key(ec.SECP256R1())

# Arcs under 2 may be large; under 0 and 1 the second arc is below 40 (X.660).
# cryptography's parser takes arcs up to 2**63 - 1 (the first sub-identifier 80 + arc too),
# so the comparison stays inside what the reference implementation can represent.
_ARC_MAX = 2**62
_oids = st.one_of(
    st.tuples(st.integers(0, 1), st.integers(0, 39)),
    st.tuples(st.just(2), st.integers(0, _ARC_MAX)),
).flatmap(
    lambda first: st.lists(st.integers(0, _ARC_MAX), max_size=6).map(
        lambda rest: ".".join(str(arc) for arc in (*first, *rest))
    )
)
_x509_times = st.datetimes(
    min_value=dt.datetime(1950, 1, 1),
    max_value=dt.datetime(9999, 12, 31, 23, 59, 59),
    timezones=st.just(dt.UTC),
).map(lambda moment: moment.replace(microsecond=0))


def _cryptography_time(moment: dt.datetime) -> bytes:
    """The thisUpdate element cryptography's CRL builder writes for ``moment``."""
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")]))
        .last_update(moment)
        .next_update(moment + dt.timedelta(seconds=1))
        .sign(_SIGNING_KEY, hashes.SHA256())
    )
    tbs = crl.tbs_certlist_bytes
    _, position, _ = read_tlv(tbs, 0)
    for _ in range(3):  # version, signature, issuer
        _, header, length = read_tlv(tbs, position)
        position += header + length
    _, header, length = read_tlv(tbs, position)
    return tbs[position : position + header + length]


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "00"),
        (127, "7f"),
        (128, "8180"),
        (255, "81ff"),
        (256, "820100"),
        (65535, "82ffff"),
        (65536, "83010000"),
        (50_000_000, "8402faf080"),
    ],
)
def test_length_uses_short_form_below_128_and_minimal_long_form_above(
    n: int, expected: str
) -> None:
    assert encode_length(n).hex() == expected


def test_negative_length_is_refused() -> None:
    with pytest.raises(InvalidInput):
        encode_length(-1)


def test_tlv_refuses_multi_octet_tags() -> None:
    with pytest.raises(InvalidInput):
        tlv(0x1F, b"")


@given(st.integers(min_value=0, max_value=2**200))
def test_non_negative_integer_matches_cryptography(value: int) -> None:
    # CRLNumber's extnValue is a bare INTEGER in cryptography's own encoding.
    assert encode_integer(value) == x509.CRLNumber(value).public_bytes()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "020100"),
        (1, "020101"),
        (127, "02017f"),
        (128, "02020080"),
        (255, "020200ff"),
        (256, "02020100"),
        (-1, "0201ff"),
        (-128, "020180"),
        (-129, "0202ff7f"),
        (-256, "0202ff00"),
    ],
)
def test_integer_is_minimal_twos_complement(value: int, expected: str) -> None:
    assert encode_integer(value).hex() == expected


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        (x509.ReasonFlags.unspecified, 0),
        (x509.ReasonFlags.key_compromise, 1),
        (x509.ReasonFlags.ca_compromise, 2),
        (x509.ReasonFlags.affiliation_changed, 3),
        (x509.ReasonFlags.superseded, 4),
        (x509.ReasonFlags.cessation_of_operation, 5),
        (x509.ReasonFlags.certificate_hold, 6),
        (x509.ReasonFlags.remove_from_crl, 8),
        (x509.ReasonFlags.privilege_withdrawn, 9),
        (x509.ReasonFlags.aa_compromise, 10),
    ],
)
def test_enumerated_matches_cryptography_crl_reason(reason: x509.ReasonFlags, code: int) -> None:
    assert encode_enumerated(code) == x509.CRLReason(reason).public_bytes()


@given(_oids)
def test_oid_matches_cryptography(dotted: str) -> None:
    # ExtendedKeyUsage is SEQUENCE OF OBJECT IDENTIFIER: strip the SEQUENCE header.
    reference = x509.ExtendedKeyUsage([x509.ObjectIdentifier(dotted)]).public_bytes()
    _, header, _ = read_tlv(reference, 0)
    assert encode_oid(dotted) == reference[header:]


def test_crl_reason_oid_has_its_well_known_encoding() -> None:
    assert encode_oid("2.5.29.21").hex() == "0603551d15"


@pytest.mark.parametrize("dotted", ["", "1", "1.x", "3.1", "1.40", "0.2.-1"])
def test_malformed_oid_is_refused(dotted: str) -> None:
    with pytest.raises(InvalidInput):
        encode_oid(dotted)


def test_octet_string_sequence_and_bit_string_wrap_their_content() -> None:
    assert encode_octet_string(b"\x01\x02").hex() == "04020102"
    assert encode_sequence(b"\x05\x00", b"\x05\x00").hex() == "300405000500"
    assert encode_sequence().hex() == "3000"
    assert encode_bit_string(b"\xab").hex() == "030200ab"


def test_bit_string_refuses_impossible_unused_bits() -> None:
    with pytest.raises(InvalidInput):
        encode_bit_string(b"\xab", unused_bits=8)
    with pytest.raises(InvalidInput):
        encode_bit_string(b"", unused_bits=1)


@pytest.mark.parametrize(
    ("moment", "tag", "text"),
    [
        (dt.datetime(1950, 1, 1, tzinfo=dt.UTC), TAG_UTC_TIME, "500101000000Z"),
        (dt.datetime(2049, 12, 31, 23, 59, 59, tzinfo=dt.UTC), TAG_UTC_TIME, "491231235959Z"),
        (dt.datetime(2050, 1, 1, tzinfo=dt.UTC), TAG_GENERALIZED_TIME, "20500101000000Z"),
        (
            dt.datetime(1949, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
            TAG_GENERALIZED_TIME,
            "19491231235959Z",
        ),
        (dt.datetime(2000, 2, 29, 1, 2, 3, tzinfo=dt.UTC), TAG_UTC_TIME, "000229010203Z"),
    ],
)
def test_time_is_utctime_from_1950_to_2049_and_generalized_time_otherwise(
    moment: dt.datetime, tag: int, text: str
) -> None:
    assert encode_time(moment) == tlv(tag, text.encode("ascii"))


@given(_x509_times)
def test_time_matches_cryptography_crl_builder(moment: dt.datetime) -> None:
    assert encode_time(moment) == _cryptography_time(moment)


@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime(2025, 1, 1),
        dt.datetime(2025, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        dt.datetime(2025, 1, 1, microsecond=1, tzinfo=dt.UTC),
    ],
    ids=["naive", "not-utc", "fraction-of-second"],
)
def test_time_refuses_naive_non_utc_and_fractional_values(moment: dt.datetime) -> None:
    with pytest.raises(InvalidInput):
        encode_time(moment)


@given(st.sampled_from([0x02, 0x04, 0x30, 0xA0]), st.binary(max_size=70_000))
def test_read_tlv_finds_header_and_content_of_any_element(tag: int, content: bytes) -> None:
    element = tlv(tag, content)
    found_tag, header_len, content_len = read_tlv(b"\xff" + element, 1)
    assert (found_tag, content_len) == (tag, len(content))
    assert element[header_len:] == content


def test_read_tlv_walks_siblings() -> None:
    data = encode_integer(5) + encode_octet_string(b"x" * 200) + encode_sequence()
    tags = []
    position = 0
    while position < len(data):
        tag, header_len, content_len = read_tlv(data, position)
        tags.append(tag)
        position += header_len + content_len
    assert tags == [0x02, TAG_OCTET_STRING, TAG_SEQUENCE]
    assert position == len(data)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x30",
        b"\x30\x02\x00",  # content runs past the end
        b"\x30\x80\x00\x00",  # indefinite length (BER, not DER)
        b"\x30\x81\x05\x00\x00\x00\x00\x00",  # long form for a short length
        b"\x30\x82\x00\x80" + b"\x00" * 128,  # leading zero length octet
        b"\x30\x82\x01",  # truncated length
        b"\x1f\x01\x00",  # multi-octet tag
    ],
)
def test_read_tlv_refuses_truncated_or_non_der_elements(data: bytes) -> None:
    with pytest.raises(MalformedData):
        read_tlv(data, 0)
