"""name_hash must agree with `openssl x509 -hash` / `openssl crl -hash` byte for byte."""

from __future__ import annotations

import datetime
import functools
import shutil
import subprocess
import warnings

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from certward.crypto.subject_hash import certificate_subject_hash, crl_issuer_hash, name_hash
from certward.errors import MalformedData

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
# Never skipped: tests/conftest.py fails interop tests when openssl is missing.
needs_openssl = pytest.mark.interop


@functools.cache
def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _self_signed(subject: x509.Name, *, issuer: x509.Name | None = None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer is None else issuer)
        .public_key(_key().public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(_key(), hashes.SHA256())
    )


def _crl(issuer: x509.Name) -> x509.CertificateRevocationList:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer)
        .last_update(now)
        .next_update(now + datetime.timedelta(days=1))
        .sign(_key(), hashes.SHA256())
    )


def _openssl_hash(command: str, pem: bytes) -> str:
    result = subprocess.run(
        [OPENSSL, command, "-hash", "-noout"], input=pem, capture_output=True, check=True
    )
    return result.stdout.decode().strip()


def _openssl_subject_hash(name: x509.Name) -> str:
    pem = _self_signed(name).public_bytes(serialization.Encoding.PEM)
    return _openssl_hash("x509", pem)


def _attr(
    oid: x509.ObjectIdentifier, value: str, asn1_type: _ASN1Type | None = None
) -> x509.NameAttribute[str]:
    # _validate=False: the length limits of RFC 5280 would forbid the long-value cases.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if asn1_type is None:
            return x509.NameAttribute(oid, value, _validate=False)
        return x509.NameAttribute(oid, value, _type=asn1_type, _validate=False)


def _name(*attrs: x509.NameAttribute[str]) -> x509.Name:
    return x509.Name(list(attrs))


CN, ORG, OU = NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME

NAMES: dict[str, x509.Name] = {
    "empty": x509.Name([]),
    "plain": _name(_attr(NameOID.COUNTRY_NAME, "DE"), _attr(ORG, "Example"), _attr(CN, "Root CA")),
    "mixed_case": _name(_attr(CN, "MiXeD CaSe CA")),
    "leading_trailing_spaces": _name(_attr(CN, "   padded   ")),
    "internal_space_runs": _name(_attr(CN, "a    b  c")),
    "tabs_and_newlines": _name(_attr(CN, "\ta\t\tb\n\r\vc\f ")),
    "only_whitespace": _name(_attr(CN, " \t ")),
    "non_ascii_latin": _name(_attr(CN, "  Été   À Paris ")),
    "non_ascii_cjk": _name(_attr(ORG, "漢字 有限公司"), _attr(CN, "漢字")),
    "non_breaking_space_kept": _name(_attr(CN, "a\u00a0\u00a0B")),
    "astral_utf8": _name(_attr(CN, "Key 🔑 Ring")),
    "printable_string": _name(_attr(CN, "Printable CA", _ASN1Type.PrintableString)),
    "utf8_string": _name(_attr(CN, "Printable CA", _ASN1Type.UTF8String)),
    "bmp_string": _name(_attr(CN, "  BMP Été 漢字 ", _ASN1Type.BMPString)),
    "universal_string": _name(_attr(CN, "Universal 🔑 X", _ASN1Type.UniversalString)),
    "t61_string": _name(_attr(CN, "T61 Name", _ASN1Type.T61String)),
    "t61_string_high_bytes": _name(_attr(CN, "Tëst", _ASN1Type.T61String)),
    "numeric_string_not_canonicalised": _name(_attr(CN, "12  34 ", _ASN1Type.NumericString)),
    "ia5_email": _name(
        _attr(CN, "Mail User"),
        _attr(NameOID.EMAIL_ADDRESS, "User@Example.COM", _ASN1Type.IA5String),
    ),
    "multi_valued_rdn": x509.Name(
        [
            x509.RelativeDistinguishedName([_attr(ORG, "Example")]),
            x509.RelativeDistinguishedName([_attr(CN, "Zeta"), _attr(OU, "Alpha  Unit")]),
        ]
    ),
    "multi_valued_rdn_mixed_types": x509.Name(
        [
            x509.RelativeDistinguishedName(
                [
                    _attr(CN, "SAME", _ASN1Type.PrintableString),
                    _attr(OU, "same", _ASN1Type.BMPString),
                    _attr(ORG, "Same", _ASN1Type.UTF8String),
                ]
            )
        ]
    ),
    "serial_number": _name(
        _attr(CN, "Device"), _attr(NameOID.SERIAL_NUMBER, "SN-0042", _ASN1Type.PrintableString)
    ),
    "domain_components": _name(
        _attr(NameOID.DOMAIN_COMPONENT, "COM", _ASN1Type.IA5String),
        _attr(NameOID.DOMAIN_COMPONENT, "Example", _ASN1Type.IA5String),
        _attr(CN, "dc user"),
    ),
    "repeated_attribute_types": _name(_attr(OU, "b"), _attr(OU, "A"), _attr(OU, "a")),
    "very_long_value": _name(_attr(CN, "Long " * 300)),
    "long_name_many_rdns": _name(*(_attr(OU, f"Unit {i:03d}") for i in range(60))),
}


@pytest.mark.parametrize("case", sorted(NAMES))
@pytest.mark.interop
@needs_openssl
def test_name_hash_matches_openssl_x509_hash(case: str) -> None:
    name = NAMES[case]

    ours = name_hash(name)

    assert ours == _openssl_subject_hash(name)


@pytest.mark.interop
@needs_openssl
def test_crl_issuer_hash_matches_openssl_crl_hash() -> None:
    crl = _crl(_name(_attr(ORG, "  Revoking  Org "), _attr(CN, "Issuing CA")))

    ours = crl_issuer_hash(crl)

    assert ours == _openssl_hash("crl", crl.public_bytes(serialization.Encoding.PEM))


def test_certificate_subject_hash_uses_subject_not_issuer() -> None:
    subject, issuer = _name(_attr(CN, "Leaf")), _name(_attr(CN, "Issuer"))

    cert = _self_signed(subject, issuer=issuer)

    assert certificate_subject_hash(cert) == name_hash(subject) != name_hash(issuer)


def test_empty_name_hashes_sha1_of_nothing() -> None:
    assert name_hash(x509.Name([])) == "eea339da"


def test_case_whitespace_and_string_type_do_not_change_the_hash() -> None:
    reference = name_hash(_name(_attr(CN, "root ca")))

    variants = [
        _name(_attr(CN, "  ROOT\t\t Ca\n")),
        _name(_attr(CN, "Root CA", _ASN1Type.PrintableString)),
        _name(_attr(CN, "root  ca", _ASN1Type.BMPString)),
        _name(_attr(CN, "ROOT CA", _ASN1Type.IA5String)),
    ]

    assert {name_hash(v) for v in variants} == {reference}


def test_visible_string_is_canonicalised_like_utf8() -> None:
    # OpenSSL cannot parse a Name holding a VisibleString at all, so this is
    # checked against the canonical rule rather than the binary.
    visible = _name(_attr(CN, " Visible  NAME ", _ASN1Type.VisibleString))

    assert name_hash(visible) == name_hash(_name(_attr(CN, "visible name")))


def test_non_text_values_are_hashed_as_encoded() -> None:
    numeric = _name(_attr(CN, "12 34", _ASN1Type.NumericString))

    assert name_hash(numeric) != name_hash(_name(_attr(CN, "12 34")))


def test_bmp_string_with_surrogate_is_malformed() -> None:
    # A BMPString is UCS-2: OpenSSL refuses the surrogate halves that a
    # UTF-16 encoder writes for characters beyond the BMP.
    name = _name(_attr(CN, "🔑", _ASN1Type.BMPString))

    with pytest.raises(MalformedData):
        name_hash(name)


# -- property: random names agree with openssl -------------------------------

_WHITESPACE = " \t\n\v\f\r"
_PRINTABLE = "ABCXYZabcxyz0189 '()+,-./:=?"
_ASCII_TEXT = "AZaz09 -_.@" + _WHITESPACE
_BMP_TEXT = _ASCII_TEXT + "éÉßİıΣσ漢字\u00a0\u3000"
_ASTRAL_TEXT = _BMP_TEXT + "🔑\U0001d518"

_VALUE_STRATEGY: dict[_ASN1Type, st.SearchStrategy[str]] = {
    _ASN1Type.UTF8String: st.text(_ASTRAL_TEXT, min_size=1, max_size=20),
    _ASN1Type.PrintableString: st.text(_PRINTABLE, min_size=1, max_size=20),
    _ASN1Type.IA5String: st.text(_ASCII_TEXT, min_size=1, max_size=20),
    _ASN1Type.T61String: st.text(_ASCII_TEXT + "é", min_size=1, max_size=20),
    _ASN1Type.BMPString: st.text(_BMP_TEXT, min_size=1, max_size=20),
    _ASN1Type.UniversalString: st.text(_ASTRAL_TEXT, min_size=1, max_size=20),
}
_OIDS = [
    CN,
    ORG,
    OU,
    NameOID.LOCALITY_NAME,
    NameOID.STATE_OR_PROVINCE_NAME,
    NameOID.SERIAL_NUMBER,
    NameOID.DOMAIN_COMPONENT,
    NameOID.EMAIL_ADDRESS,
]


@st.composite
def _attributes(draw: st.DrawFn) -> x509.NameAttribute[str]:
    oid = draw(st.sampled_from(_OIDS))
    asn1_type = draw(st.sampled_from(sorted(_VALUE_STRATEGY, key=lambda t: t.value)))
    return _attr(oid, draw(_VALUE_STRATEGY[asn1_type]), asn1_type)


_names = st.lists(
    st.lists(_attributes(), min_size=1, max_size=3, unique=True).map(
        x509.RelativeDistinguishedName
    ),
    max_size=4,
).map(x509.Name)


@pytest.mark.interop
@needs_openssl
@settings(max_examples=40, deadline=None)
@given(name=_names)
def test_random_names_hash_like_openssl(name: x509.Name) -> None:
    assert name_hash(name) == _openssl_subject_hash(name)
