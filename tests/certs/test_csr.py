"""CSR fields (seed 002 / Redfish GenerateCSR): checks that name the field, and generation."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import AttributeOID, ExtendedKeyUsageOID, NameOID

from certward.certs.csr import REDFISH_FIELDS, csr_request_from_fields, generate_csr
from certward.crypto.keys import KeyType
from certward.errors import InvalidCSRRequest

REQUIRED = {
    "city": "HYB",
    "common_name": "www.company.com",
    "country": "IN",
    "organization": "ABCD",
    "organizational_unit": "XY",
    "state": "TX",
}

# Seed 002's example request, as sent (with its own spellings of two fields).
SEED_002 = {
    "City": "HYB",
    "CommonName": "www.company.com",
    "ContactPerson": "myname",
    "AlternativeNames": ["mycompany.com", "mycompany2.com"],
    "ChallengePassword": "abc123",
    "Email": "xxx@xx.com",
    "GivenName": "localhost",
    "Initials": "G",
    "Country": "IN",
    "KeyCurveId": "0",
    "KeyUsage": ["ServerAuthentication", "ServerAuthentication"],
    "KeyBitLength": 2048,
    "KeyPairAlgorithm": "RSA",
    "Organization": "ABCD",
    "OrganizationUnit": "XY",
    "State": "TX",
    "SurName": "XX",
    "UnstructuredName": "xxx",
}


def _fields(**changes: Any) -> dict[str, Any]:
    fields = {**REQUIRED, **changes}
    return {name: value for name, value in fields.items() if value is not None}


def test_seed_002_example_makes_a_csr_that_openssl_verifies(tmp_path: Path) -> None:
    request = csr_request_from_fields({REDFISH_FIELDS[k]: v for k, v in SEED_002.items()})

    generated = generate_csr(request)

    path = tmp_path / "seed.csr"
    path.write_bytes(generated.csr_pem)
    shown = subprocess.run(
        ["openssl", "req", "-in", str(path), "-noout", "-verify", "-text"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    assert "C = IN, ST = TX, L = HYB, O = ABCD, OU = XY, CN = www.company.com" in shown.stdout
    assert "DNS:www.company.com, DNS:mycompany.com, DNS:mycompany2.com" in shown.stdout
    assert "TLS Web Server Authentication" in shown.stdout
    csr = generated.csr
    assert csr.subject.get_attributes_for_oid(NameOID.SURNAME)[0].value == "XX"
    assert csr.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)[0].value == "xxx@xx.com"
    assert csr.attributes.get_attribute_for_oid(AttributeOID.CHALLENGE_PASSWORD).value == b"abc123"
    assert isinstance(generated.private_key, rsa.RSAPrivateKey)
    assert generated.private_key.key_size == 2048


@pytest.mark.parametrize(
    ("changes", "key_type"),
    [
        ({}, KeyType.EC_P384),
        ({"key_pair_algorithm": "EC", "key_curve_id": "secp256r1"}, KeyType.EC_P256),
        ({"key_pair_algorithm": "EC", "key_curve_id": "prime256v1"}, KeyType.EC_P256),
        ({"key_pair_algorithm": "ec", "key_bit_length": 384}, KeyType.EC_P384),
        ({"key_pair_algorithm": "RSA"}, KeyType.RSA_2048),
        ({"key_pair_algorithm": "RSA", "key_bit_length": 3072}, KeyType.RSA_3072),
        ({"key_pair_algorithm": "RSA", "key_bit_length": 4096}, KeyType.RSA_4096),
        ({"key_pair_algorithm": "Ed25519"}, KeyType.ED25519),
    ],
)
def test_key_types(changes: dict[str, Any], key_type: KeyType) -> None:
    request = csr_request_from_fields(_fields(**changes))

    generated = generate_csr(request)

    assert request.key_type is key_type
    assert generated.csr.is_signature_valid
    key = generated.private_key
    if key_type is KeyType.ED25519:
        assert isinstance(key, ed25519.Ed25519PrivateKey)
    elif key_type.value.startswith("rsa"):
        assert isinstance(key, rsa.RSAPrivateKey)
        assert key.key_size == int(key_type.value.split("-")[1])
    else:
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert key.curve.name == ("secp256r1" if key_type is KeyType.EC_P256 else "secp384r1")


@pytest.mark.parametrize("field", sorted(REQUIRED))
def test_each_required_field_is_named_when_missing(field: str) -> None:
    with pytest.raises(InvalidCSRRequest) as missing:
        csr_request_from_fields(_fields(**{field: None}))
    with pytest.raises(InvalidCSRRequest) as blank:
        csr_request_from_fields(_fields(**{field: "  "}))

    assert missing.value.field == blank.value.field == field
    assert missing.value.code == "csr.invalid"
    assert missing.value.status == 400
    assert missing.value.message == f"{field} is required"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"country": "USA"}, "country"),
        ({"country": "U1"}, "country"),
        ({"country": 49}, "country"),
        ({"key_pair_algorithm": "DSA"}, "key_pair_algorithm"),
        ({"key_pair_algorithm": "EC", "key_curve_id": "secp521r1"}, "key_curve_id"),
        ({"key_pair_algorithm": "EC", "key_curve_id": "secp224r1"}, "key_curve_id"),
        ({"key_pair_algorithm": "EC", "key_bit_length": 521}, "key_bit_length"),
        ({"key_curve_id": "secp256r1", "key_bit_length": 384}, "key_bit_length"),
        ({"key_pair_algorithm": "RSA", "key_bit_length": 1024}, "key_bit_length"),
        ({"key_pair_algorithm": "RSA", "key_bit_length": "2048"}, "key_bit_length"),
        ({"key_usage": ["ServerAuthentication", "Anything"]}, "key_usage"),
        ({"key_usage": "DigitalSignature"}, "key_usage"),
        ({"alternative_names": ["bad name!"]}, "alternative_names"),
        ({"alternative_names": "one.example"}, "alternative_names"),
        ({"email": "not-an-address"}, "email"),
        ({"common_name": "x" * 65}, "common_name"),
        ({"organization": "line\nbreak"}, "organization"),
        ({"challenge_password": "p" * 101}, "challenge_password"),
        ({"favourite_colour": "blue"}, "favourite_colour"),
    ],
)
def test_bad_values_are_refused_naming_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidCSRRequest) as refused:
        csr_request_from_fields(_fields(**changes))

    assert refused.value.field == field
    assert refused.value.message.startswith(field)


def test_country_is_upper_cased_and_ip_alternative_names_are_ip_addresses() -> None:
    request = csr_request_from_fields(
        _fields(country="de", common_name="10.0.0.5", alternative_names=["10.0.0.5", "bmc.local"])
    )

    csr = generate_csr(request).csr

    assert request.country == "DE"
    sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(name.value) for name in sans] == ["10.0.0.5", "bmc.local"]
    assert isinstance(sans[0], x509.IPAddress)


def test_key_usage_becomes_key_usage_and_extended_key_usage_extensions() -> None:
    request = csr_request_from_fields(
        _fields(key_usage=["DigitalSignature", "KeyAgreement", "ClientAuthentication"])
    )

    csr = generate_csr(request).csr

    usage = csr.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature and usage.value.key_agreement
    assert not usage.value.key_encipherment
    extended = csr.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(extended) == [ExtendedKeyUsageOID.CLIENT_AUTH]


def test_the_stored_description_has_no_challenge_password() -> None:
    request = csr_request_from_fields(_fields(challenge_password="s3cret-challenge"))

    described = request.describe()

    assert "challenge_password" not in described
    assert "s3cret-challenge" not in repr(described)
    assert "s3cret-challenge" not in repr(request)
    assert described["country"] == "IN"
    assert described["key_type"] == "ec-p384"
