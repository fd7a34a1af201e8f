"""The Limax OctetsStream encoding, byte for byte, and its decoder's refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certward.errors import MalformedKeyIdent
from certward.kds.codec import OctetsReader, OctetsWriter

# Every tier of marshal_size and both sides of each boundary, written out by hand.
SIZE_VECTORS = [
    (0, "00"),
    (1, "01"),
    (0x7F, "7f"),
    (0x80, "8080"),
    (0xFF, "80ff"),
    (0x3FFF, "bfff"),
    (0x4000, "c04000"),
    (0x1FFFFF, "dfffff"),
    (0x200000, "e0200000"),
    (0xFFFFFFF, "efffffff"),
    (0x10000000, "f010000000"),
    (0x7FFFFFFF, "f07fffffff"),
    (-1, "f0ffffffff"),
    (-(2**31), "f080000000"),
]


@pytest.mark.parametrize(("value", "expected"), SIZE_VECTORS)
def test_size_prefix_takes_the_limax_tier(value: int, expected: str) -> None:
    assert OctetsWriter().size(value).getvalue().hex() == expected


@pytest.mark.parametrize(("value", "encoded"), SIZE_VECTORS)
def test_size_prefix_reads_back(value: int, encoded: str) -> None:
    reader = OctetsReader(bytes.fromhex(encoded))
    assert reader.size() == value
    assert reader.remaining() == 0


@pytest.mark.parametrize(
    ("encoded", "value"),
    [
        ("8005", 5),  # a 2-byte form of a 1-byte value
        ("c00005", 5),
        ("e0000005", 5),
        ("f000000005", 5),
        ("ff00000005", 5),  # Limax reads any 1111xxxx first byte as "an int follows"
    ],
)
def test_size_prefix_reader_accepts_what_limax_accepts(encoded: str, value: int) -> None:
    assert OctetsReader(bytes.fromhex(encoded)).size() == value


def test_long_and_int_are_big_endian_twos_complement() -> None:
    data = OctetsWriter().long(1).long(-1).long(2**63 - 1).int32(-2).int32(0x01020304).getvalue()
    assert data.hex() == ("0000000000000001ffffffffffffffff7ffffffffffffffffffffffe01020304")
    reader = OctetsReader(data)
    assert [reader.long(), reader.long(), reader.long(), reader.int32(), reader.int32()] == [
        1,
        -1,
        2**63 - 1,
        -2,
        0x01020304,
    ]


def test_octets_and_string_are_size_prefixed() -> None:
    assert OctetsWriter().octets(b"").getvalue() == b"\x00"
    assert OctetsWriter().octets(b"\x01\x02").getvalue() == b"\x02\x01\x02"
    assert OctetsWriter().string("é").getvalue() == b"\x02\xc3\xa9"
    long_blob = bytes(range(256)) * 1  # 256 bytes: a 2-byte prefix
    assert OctetsWriter().octets(long_blob).getvalue() == b"\x81\x00" + long_blob
    big_blob = b"x" * 0x4000  # a 3-byte prefix
    assert OctetsWriter().octets(big_blob).getvalue()[:3] == b"\xc0\x40\x00"


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1])
def test_writer_refuses_a_long_out_of_range(value: int) -> None:
    with pytest.raises(ValueError, match="64-bit"):
        OctetsWriter().long(value)


@pytest.mark.parametrize("value", [2**31, -(2**31) - 1])
def test_writer_refuses_a_size_out_of_int_range(value: int) -> None:
    with pytest.raises(ValueError, match="32-bit"):
        OctetsWriter().size(value)


@pytest.mark.parametrize(
    ("encoded", "read"),
    [
        ("", "long"),
        ("00000000000000", "long"),  # 7 of 8 bytes
        ("000000", "int32"),
        ("", "size"),
        ("80", "size"),  # 2-byte form cut short
        ("c000", "size"),
        ("e00000", "size"),
        ("f0000000", "size"),
        ("03aabb", "octets"),  # says 3, has 2
        ("f0ffffffff", "octets"),  # negative length
        ("02c328", "string"),  # not UTF-8
    ],
)
def test_reader_refuses_truncated_or_invalid_input(encoded: str, read: str) -> None:
    reader = OctetsReader(bytes.fromhex(encoded))
    with pytest.raises(MalformedKeyIdent):
        getattr(reader, read)()


@given(st.integers(min_value=-(2**31), max_value=2**31 - 1))
def test_any_size_round_trips(value: int) -> None:
    encoded = OctetsWriter().size(value).getvalue()
    reader = OctetsReader(encoded)
    assert reader.size() == value
    assert reader.remaining() == 0


_TIER_LIMITS = ((0x80, 1), (0x4000, 2), (0x200000, 3), (0x10000000, 4))


@given(st.integers(min_value=0, max_value=2**31 - 1))
def test_size_prefix_is_minimal(value: int) -> None:
    expected = next((length for limit, length in _TIER_LIMITS if value < limit), 5)
    assert len(OctetsWriter().size(value).getvalue()) == expected


@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("long"), st.integers(-(2**63), 2**63 - 1)),
            st.tuples(st.just("int32"), st.integers(-(2**31), 2**31 - 1)),
            st.tuples(st.just("octets"), st.binary(max_size=300)),
            st.tuples(st.just("string"), st.text(max_size=100)),
        ),
        max_size=12,
    )
)
def test_any_sequence_of_values_round_trips(items: list[tuple[str, object]]) -> None:
    writer = OctetsWriter()
    for kind, value in items:
        getattr(writer, kind)(value)
    reader = OctetsReader(writer.getvalue())
    assert [(kind, getattr(reader, kind)()) for kind, _ in items] == items
    assert reader.remaining() == 0


@given(st.binary(max_size=64))
def test_reader_never_fails_with_anything_but_malformed(data: bytes) -> None:
    reader = OctetsReader(data)
    try:
        while reader.remaining():
            reader.string()
    except MalformedKeyIdent:
        pass
