"""KeyIdent on the wire and in text, and what a group URI's fragment means."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certward.errors import MalformedKeyIdent
from certward.kds.ident import (
    CURRENT_TIMESTAMP,
    DEFAULT_PRECISION_MS,
    MAX_IDENT_BYTES,
    KeyIdent,
    group_of,
    precision_ms,
)

# 1700000000000 = 0x0000018bcfe56800, 472222 = 0x000000000007349e, "urn:prjA" is 8 bytes.
KNOWN = KeyIdent(timestamp=1_700_000_000_000, nonce=472_222, group="urn:prjA")
KNOWN_HEX = "0000018bcfe56800000000000007349e0875726e3a70726a41"


def test_known_ident_encodes_to_exact_bytes() -> None:
    assert KNOWN.encode().hex() == KNOWN_HEX


def test_known_ident_decodes_from_exact_bytes() -> None:
    assert KeyIdent.decode(bytes.fromhex(KNOWN_HEX)) == KNOWN


def test_sender_ident_carries_minus_one_as_eight_ff_bytes() -> None:
    ident = KeyIdent(CURRENT_TIMESTAMP, 0, "g")
    assert ident.encode().hex() == "ffffffffffffffff00000000000000000167"


def test_long_group_takes_a_two_byte_prefix_and_non_ascii_is_utf8() -> None:
    group = "urn:" + "é" * 100  # 4 + 200 bytes = 204 = 0x00cc
    encoded = KeyIdent(0, 0, group).encode()
    assert encoded[16:18] == b"\x80\xcc"
    assert encoded[18:] == group.encode("utf-8")


def test_text_form_is_decimal_with_single_spaces() -> None:
    assert KNOWN.text() == "1700000000000 472222 urn:prjA"
    assert KeyIdent(-1, -5, "urn:x").text() == "-1 -5 urn:x"


def test_with_timestamp_keeps_nonce_and_group() -> None:
    assert KNOWN.with_timestamp(7) == KeyIdent(7, 472_222, "urn:prjA")


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes.fromhex(KNOWN_HEX)[:-1],  # group cut short
        bytes.fromhex(KNOWN_HEX)[:12],  # nonce cut short
        bytes.fromhex(KNOWN_HEX) + b"\x00",  # trailing byte
        bytes.fromhex("0000000000000000000000000000000002c328"),  # group not UTF-8
        bytes.fromhex("00000000000000000000000000000000f0ffffffff"),  # negative length
    ],
    ids=["empty", "short-group", "short-nonce", "trailing", "not-utf8", "negative"],
)
def test_malformed_ident_raises_malformed_key_ident(data: bytes) -> None:
    with pytest.raises(MalformedKeyIdent):
        KeyIdent.decode(data)


def _ident_of_total_length(total: int) -> bytes:
    group_length = total - 16 - 2  # two longs, a 2-byte size prefix
    prefix = bytes(((group_length >> 8) | 0x80, group_length & 0xFF))
    return bytes(16) + prefix + b"a" * group_length


def test_ident_of_exactly_max_bytes_is_accepted() -> None:
    assert KeyIdent.decode(_ident_of_total_length(MAX_IDENT_BYTES)).group == "a" * 4078


def test_well_formed_ident_past_max_bytes_is_refused() -> None:
    with pytest.raises(MalformedKeyIdent, match="4096"):
        KeyIdent.decode(_ident_of_total_length(MAX_IDENT_BYTES + 1))


def test_out_of_range_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="64-bit"):
        KeyIdent(2**63, 0, "g")


@given(
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-(2**63), 2**63 - 1),
    st.text(max_size=200),
)
def test_any_ident_round_trips(timestamp: int, nonce: int, group: str) -> None:
    ident = KeyIdent(timestamp, nonce, group)
    assert KeyIdent.decode(ident.encode()) == ident


@given(st.binary(max_size=80))
def test_random_bytes_decode_or_raise_malformed(data: bytes) -> None:
    try:
        ident = KeyIdent.decode(data)
    except MalformedKeyIdent:
        return
    assert KeyIdent.decode(ident.encode()) == ident


@pytest.mark.parametrize(
    ("uri", "group"),
    [
        ("urn:prjA#10s", "urn:prjA"),
        ("urn:prjB", "urn:prjB"),
        ("https://example.org/app?x=1#5m", "https://example.org/app?x=1"),
        ("urn:a#b#c", "urn:a"),
    ],
)
def test_group_is_the_uri_without_its_fragment(uri: str, group: str) -> None:
    assert group_of(uri) == group


@pytest.mark.parametrize(
    ("uri", "milliseconds"),
    [
        ("urn:g#10s", 10_000),
        ("urn:g#10S", 10_000),
        ("urn:g#5m", 300_000),
        ("urn:g#5M", 300_000),
        ("urn:g#2h", 7_200_000),
        ("urn:g#2H", 7_200_000),
        ("urn:g#250", 250),
        ("urn:g#+7s", 7_000),
        ("urn:g", DEFAULT_PRECISION_MS),
        ("urn:g#", DEFAULT_PRECISION_MS),
        ("urn:g#s", DEFAULT_PRECISION_MS),
        ("urn:g#10d", DEFAULT_PRECISION_MS),
        ("urn:g#ten", DEFAULT_PRECISION_MS),
        ("urn:g#0", DEFAULT_PRECISION_MS),  # Limax would divide by zero
        ("urn:g#-5s", DEFAULT_PRECISION_MS),
        ("urn:g#99999999999999999999h", DEFAULT_PRECISION_MS),
    ],
)
def test_precision_comes_from_the_fragment(uri: str, milliseconds: int) -> None:
    assert precision_ms(uri) == milliseconds


def test_default_precision_is_one_hour() -> None:
    assert DEFAULT_PRECISION_MS == 3_600_000
