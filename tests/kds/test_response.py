"""KeyResponse on the wire: timestamp, key, and the addresses of other nodes."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certward.errors import MalformedKeyIdent
from certward.kds.response import KeyResponse

KEY = bytes([0xAB]) * 32
LOOPBACK4 = ipaddress.ip_address("127.0.0.1").packed
LOOPBACK6 = ipaddress.ip_address("::1").packed
KNOWN = KeyResponse(timestamp=1_700_000_000_000, key=KEY, servers=(LOOPBACK4, LOOPBACK6))
KNOWN_HEX = "".join(
    [
        "0000018bcfe56800",  # long timestamp
        "20" + "ab" * 32,  # bytes key (32)
        "02",  # size: two servers
        "04" + "7f000001",  # 127.0.0.1
        "10" + "00000000000000000000000000000001",  # ::1
    ]
)


def test_known_response_encodes_to_exact_bytes() -> None:
    assert KNOWN.encode().hex() == KNOWN_HEX


def test_known_response_decodes_from_exact_bytes() -> None:
    assert KeyResponse.decode(bytes.fromhex(KNOWN_HEX)) == KNOWN


def test_response_without_servers_ends_with_a_zero_count() -> None:
    encoded = KeyResponse(timestamp=-1, key=b"\x01", servers=()).encode()
    assert encoded.hex() == "ffffffffffffffff010100"


def test_addresses_of_other_lengths_are_skipped_like_limax() -> None:
    data = bytes.fromhex("00000000000000010101030201ff047f00000100")
    assert KeyResponse.decode(data).servers == (LOOPBACK4,)


def test_repr_hides_the_key() -> None:
    assert repr(KNOWN) == "KeyResponse(timestamp=1700000000000, key=<32 bytes>, servers=2)"


def test_server_address_must_be_raw_ipv4_or_ipv6() -> None:
    with pytest.raises(ValueError, match="4 \\(IPv4\\) or 16"):
        KeyResponse(timestamp=0, key=b"", servers=(b"127.0.0.1",))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes.fromhex(KNOWN_HEX)[:8],  # no key
        bytes.fromhex(KNOWN_HEX)[:41],  # no count
        bytes.fromhex(KNOWN_HEX)[:-1],  # last address cut short
        bytes.fromhex(KNOWN_HEX) + b"\x00",  # trailing byte
        bytes.fromhex("000000000000000100f0ffffffff"),  # negative count
    ],
    ids=["empty", "no-key", "no-count", "short-address", "trailing", "negative-count"],
)
def test_garbage_raises_malformed(data: bytes) -> None:
    with pytest.raises(MalformedKeyIdent):
        KeyResponse.decode(data)


_addresses = st.one_of(
    st.ip_addresses(v=4).map(lambda a: a.packed), st.ip_addresses(v=6).map(lambda a: a.packed)
)


@given(
    st.integers(-(2**63), 2**63 - 1),
    st.binary(max_size=200),
    st.lists(_addresses, max_size=20).map(tuple),
)
def test_any_response_round_trips(timestamp: int, key: bytes, servers: tuple[bytes, ...]) -> None:
    response = KeyResponse(timestamp, key, servers)
    assert KeyResponse.decode(response.encode()) == response
