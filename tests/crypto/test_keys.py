"""Key types by name, key generation, and loading keys with passwords that never leak."""

from __future__ import annotations

import functools

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from certward.crypto.keys import (
    MAX_PASSWORD_LENGTH,
    KeyType,
    SigningKey,
    generate_private_key,
    key_type_of,
    load_private_key,
    private_key_to_pkcs8,
    public_key_to_pem,
    signature_hash_for,
)
from certward.errors import InvalidInput, KeyTypeNotAllowed, MalformedData, PasswordError

PASSWORD = b"correct horse battery staple"
WRONG_PASSWORD = b"Tr0ub4dor&3-wrong"


@functools.cache
def _ec_key() -> SigningKey:
    return generate_private_key(KeyType.EC_P256)


def _same_key(first: SigningKey, second: SigningKey) -> bool:
    return public_key_to_pem(first.public_key()) == public_key_to_pem(second.public_key())


# --- key types ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["ec-p256", "EC-P256", "  ec-p256 "])
def test_key_type_names_parse_case_insensitively(text: str) -> None:
    assert KeyType.parse(text) is KeyType.EC_P256


def test_unknown_key_type_lists_the_choices() -> None:
    with pytest.raises(InvalidInput, match="ec-p256"):
        KeyType.parse("dsa-1024")


@pytest.mark.parametrize(
    "key_type",
    [
        KeyType.EC_P256,
        KeyType.EC_P384,
        KeyType.RSA_2048,
        KeyType.RSA_3072,
        KeyType.ED25519,
        pytest.param(KeyType.RSA_4096, id="rsa-4096-slowish"),
    ],
)
def test_generated_key_has_the_type_it_was_asked_for(key_type: KeyType) -> None:
    key = generate_private_key(key_type)

    assert key_type_of(key) is key_type
    assert key_type_of(key.public_key()) is key_type


def test_rsa_keys_use_exponent_65537() -> None:
    key = generate_private_key(KeyType.RSA_2048)

    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.public_key().public_numbers().e == 65537


@pytest.mark.parametrize(
    "key",
    [
        pytest.param(lambda: ec.generate_private_key(ec.SECP521R1()), id="p521"),
        pytest.param(lambda: ec.generate_private_key(ec.SECP256K1()), id="secp256k1"),
        pytest.param(lambda: rsa.generate_private_key(65537, 1024), id="rsa-1024"),  # noqa: S505
        pytest.param(ed448.Ed448PrivateKey.generate, id="ed448"),
    ],
)
def test_unsupported_keys_are_not_allowed(key: object) -> None:
    with pytest.raises(KeyTypeNotAllowed):
        key_type_of(key())  # type: ignore[operator]


def test_p384_signs_with_sha384() -> None:
    assert isinstance(signature_hash_for(generate_private_key(KeyType.EC_P384)), hashes.SHA384)


def test_p256_signs_with_sha256() -> None:
    assert isinstance(signature_hash_for(_ec_key()), hashes.SHA256)


def test_rsa_signs_with_sha256() -> None:
    assert isinstance(signature_hash_for(generate_private_key(KeyType.RSA_2048)), hashes.SHA256)


def test_ed25519_signs_without_a_separate_hash() -> None:
    assert signature_hash_for(ed25519.Ed25519PrivateKey.generate()) is None


# --- PKCS#8 and loading ---------------------------------------------------------------------


def test_pkcs8_pem_round_trip() -> None:
    pem = private_key_to_pkcs8(_ec_key())

    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert _same_key(load_private_key(pem), _ec_key())


def test_pkcs8_der_round_trip() -> None:
    der = private_key_to_pkcs8(_ec_key(), pem=False)

    assert _same_key(load_private_key(der), _ec_key())


def test_encrypted_pkcs8_pem_opens_with_its_password() -> None:
    pem = private_key_to_pkcs8(_ec_key(), password=PASSWORD)

    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert _same_key(load_private_key(pem, password=PASSWORD), _ec_key())


def test_encrypted_pkcs8_der_opens_with_its_password() -> None:
    der = private_key_to_pkcs8(_ec_key(), password=PASSWORD, pem=False)

    assert _same_key(load_private_key(der, password=PASSWORD), _ec_key())


def test_traditional_openssl_pem_key_loads() -> None:
    pem = _ec_key().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )

    assert _same_key(load_private_key(pem), _ec_key())


@pytest.mark.parametrize("pem", [True, False], ids=["pem", "der"])
def test_wrong_password_is_a_password_error_that_does_not_echo_it(pem: bool) -> None:
    data = private_key_to_pkcs8(_ec_key(), password=PASSWORD, pem=pem)

    with pytest.raises(PasswordError) as caught:
        load_private_key(data, password=WRONG_PASSWORD)

    assert WRONG_PASSWORD.decode() not in str(caught.value)
    assert PASSWORD.decode() not in str(caught.value)


@pytest.mark.parametrize("pem", [True, False], ids=["pem", "der"])
def test_missing_password_for_an_encrypted_key_is_a_password_error(pem: bool) -> None:
    data = private_key_to_pkcs8(_ec_key(), password=PASSWORD, pem=pem)

    with pytest.raises(PasswordError, match="password is required"):
        load_private_key(data)


def test_password_for_an_unencrypted_key_is_a_password_error() -> None:
    data = private_key_to_pkcs8(_ec_key())

    with pytest.raises(PasswordError) as caught:
        load_private_key(data, password=WRONG_PASSWORD)

    assert WRONG_PASSWORD.decode() not in str(caught.value)


def test_password_longer_than_the_limit_is_refused_on_load() -> None:
    too_long = b"p" * (MAX_PASSWORD_LENGTH + 1)
    data = private_key_to_pkcs8(_ec_key(), password=PASSWORD)

    with pytest.raises(PasswordError) as caught:
        load_private_key(data, password=too_long)

    assert too_long.decode() not in str(caught.value)


def test_password_of_exactly_the_limit_is_accepted() -> None:
    password = b"p" * MAX_PASSWORD_LENGTH
    data = private_key_to_pkcs8(_ec_key(), password=password)

    assert _same_key(load_private_key(data, password=password), _ec_key())


def test_password_longer_than_the_limit_is_refused_on_export() -> None:
    with pytest.raises(PasswordError):
        private_key_to_pkcs8(_ec_key(), password=b"p" * (MAX_PASSWORD_LENGTH + 1))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a key at all",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        b"\x30\x03\x02\x01\x00",
    ],
)
def test_garbage_is_malformed_data(data: bytes) -> None:
    with pytest.raises(MalformedData):
        load_private_key(data)


def test_public_key_pem_is_subject_public_key_info() -> None:
    pem = public_key_to_pem(_ec_key().public_key())

    assert pem.startswith(b"-----BEGIN PUBLIC KEY-----")
