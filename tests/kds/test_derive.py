"""The key formula, checked against a digest computed independently over spelled-out bytes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from certward.errors import ConfigError
from certward.kds.derive import ALGORITHMS, MasterKeyDigester, derive_key, parse_algorithm
from certward.kds.ident import KeyIdent

TIMESTAMP = 1_700_000_000_000  # be64: 00 00 01 8b cf e5 68 00
MASTER_KEY = bytes(range(64))  # 00 01 02 ... 3f
# DER of the Name "CN=Test CA": SEQUENCE { SET { SEQUENCE { OID 2.5.4.3, UTF8String } } }
ISSUER_DER = bytes.fromhex("30123110300e06035504030c0754657374204341")
OTHER_ISSUER_DER = bytes.fromhex("30133111300f06035504030c084f74686572204341")
# What the sender sends: "current key please"; the server's timestamp replaces the -1.
REQUEST = KeyIdent(timestamp=-1, nonce=472_222, group="urn:prjA")

FORMULA_INPUT = (
    bytes.fromhex("0000018bcfe56800")
    + bytes.fromhex(
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
    )
    + b"1700000000000 472222 urn:prjA"
    + ISSUER_DER
)
# hashlib.sha256(FORMULA_INPUT), written out so a change in either side shows.
EXPECTED_SHA256 = "ba8a74f1daad8f3bc31022997c3018c63e9f8f2db14812f44230d642b33d55ec"


def test_issuer_der_literal_is_what_cryptography_encodes() -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    assert name.public_bytes() == ISSUER_DER


def test_golden_vector_matches_the_spelled_out_concatenation() -> None:
    key = derive_key(
        timestamp=TIMESTAMP, master_key=MASTER_KEY, ident=REQUEST, issuer_der=ISSUER_DER
    )
    assert key == hashlib.sha256(FORMULA_INPUT).digest()
    assert key.hex() == EXPECTED_SHA256


@pytest.mark.parametrize(
    ("algorithm", "reference", "length"),
    [
        ("SHA-1", hashlib.sha1, 20),
        ("SHA-256", hashlib.sha256, 32),
        ("SHA-384", hashlib.sha384, 48),
        ("SHA-512", hashlib.sha512, 64),
    ],
)
def test_each_algorithm_hashes_the_same_input(
    algorithm: str, reference: Callable[[bytes], Any], length: int
) -> None:
    key = derive_key(
        timestamp=TIMESTAMP,
        master_key=MASTER_KEY,
        ident=REQUEST,
        issuer_der=ISSUER_DER,
        algorithm=algorithm,
    )
    assert key == reference(FORMULA_INPUT).digest()
    assert len(key) == length


def test_request_timestamp_does_not_matter_only_the_servers() -> None:
    keys = {
        derive_key(
            timestamp=TIMESTAMP,
            master_key=MASTER_KEY,
            ident=REQUEST.with_timestamp(stamp),
            issuer_der=ISSUER_DER,
        )
        for stamp in (-1, 0, TIMESTAMP, 42)
    }
    assert keys == {bytes.fromhex(EXPECTED_SHA256)}


def test_another_issuer_gets_another_key() -> None:
    ours = derive_key(
        timestamp=TIMESTAMP, master_key=MASTER_KEY, ident=REQUEST, issuer_der=ISSUER_DER
    )
    theirs = derive_key(
        timestamp=TIMESTAMP, master_key=MASTER_KEY, ident=REQUEST, issuer_der=OTHER_ISSUER_DER
    )
    assert ours != theirs


def test_digester_reused_for_many_requests_gives_the_same_keys() -> None:
    digester = MasterKeyDigester(timestamp=TIMESTAMP, master_key=MASTER_KEY)
    assert digester.derive(REQUEST, ISSUER_DER).hex() == EXPECTED_SHA256
    other = KeyIdent(-1, 1, "urn:prjB")
    assert digester.derive(other, ISSUER_DER) == derive_key(
        timestamp=TIMESTAMP, master_key=MASTER_KEY, ident=other, issuer_der=ISSUER_DER
    )
    assert digester.derive(REQUEST, ISSUER_DER).hex() == EXPECTED_SHA256


def test_digester_repr_hides_the_master_key() -> None:
    digester = MasterKeyDigester(timestamp=TIMESTAMP, master_key=MASTER_KEY)
    assert repr(digester) == "MasterKeyDigester(timestamp=1700000000000, algorithm='SHA-256')"


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("sha-256", "SHA-256"),
        ("SHA256", "SHA-256"),
        ("sha1", "SHA-1"),
        ("SHA", "SHA-1"),
        (" SHA-384 ", "SHA-384"),
        ("sha512", "SHA-512"),
    ],
)
def test_algorithm_names_parse_case_insensitively(name: str, canonical: str) -> None:
    assert parse_algorithm(name) == canonical
    assert canonical in ALGORITHMS


@pytest.mark.parametrize("name", ["MD5", "SHA3-256", "", "SHA-224"])
def test_unsupported_algorithm_is_a_config_error(name: str) -> None:
    with pytest.raises(ConfigError, match="unsupported KDS digest"):
        parse_algorithm(name)


@given(
    st.integers(-(2**63), 2**63 - 1),
    st.binary(min_size=64, max_size=64),
    st.integers(-(2**63), 2**63 - 1),
    st.text(max_size=50),
    st.binary(max_size=100),
)
def test_formula_holds_for_any_input(
    timestamp: int, master_key: bytes, nonce: int, group: str, issuer: bytes
) -> None:
    expected = hashlib.sha256(
        timestamp.to_bytes(8, "big", signed=True)
        + master_key
        + f"{timestamp} {nonce} {group}".encode()
        + issuer
    ).digest()
    ident = KeyIdent(-1, nonce, group)
    assert (
        derive_key(timestamp=timestamp, master_key=master_key, ident=ident, issuer_der=issuer)
        == expected
    )
