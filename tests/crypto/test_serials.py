"""Serial numbers: random, positive, 128+ bits, canonical lowercase hex, parsed in any notation."""

from __future__ import annotations

import pytest

from certward.crypto.serials import parse_serial, random_serial, serial_hex
from certward.errors import InvalidInput


def test_random_serial_is_positive_with_at_least_128_bits() -> None:
    serial = random_serial()

    assert serial > 0
    assert serial.bit_length() >= 128


def test_random_serial_fits_in_20_octets_of_positive_der() -> None:
    serial = random_serial()

    # A positive DER INTEGER of at most 20 octets has at most 159 value bits.
    assert serial.bit_length() <= 159


def test_random_serials_do_not_repeat() -> None:
    serials = {random_serial() for _ in range(1000)}

    assert len(serials) == 1000


def test_serial_hex_is_lowercase_without_leading_zeros() -> None:
    assert serial_hex(0x0ABCDEF) == "abcdef"


@pytest.mark.parametrize(
    "text",
    ["1f", "1F", "0x1f", "0X1F", "001f", "00:1F", "00:1f", "  1f  "],
)
def test_parse_serial_accepts_common_notations(text: str) -> None:
    assert parse_serial(text) == 0x1F


def test_parse_serial_accepts_the_longest_20_octet_serial_with_colons() -> None:
    text = ":".join(["7f"] + ["ff"] * 19)

    assert parse_serial(text) == 2**159 - 1


@pytest.mark.parametrize(
    "text",
    ["", "   ", "xyz", "1g", "0x", "-1f", "1f 2e", "0" * 43, "0x0x1"],
)
def test_parse_serial_refuses_what_is_not_a_hex_number(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_serial(text)


def test_parse_serial_round_trips_serial_hex() -> None:
    serial = random_serial()

    assert parse_serial(serial_hex(serial)) == serial
