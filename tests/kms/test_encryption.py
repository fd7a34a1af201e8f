"""Encrypting and decrypting: the blob, the encryption context, RSA, data keys, re-encryption."""

from __future__ import annotations

import json
import struct

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from certward.errors import (
    InvalidInput,
    KmsIncorrectKeyUsage,
    KmsInvalidCiphertext,
    KmsUnsupportedAlgorithm,
    PayloadTooLarge,
)
from certward.kms import operations
from certward.kms.ciphertext import INVALID_CIPHERTEXT, parse_ciphertext
from certward.kms.keys import LoadedKey
from certward.kms.specs import KeySpec, KeyUsage
from tests.kms.conftest import Keys

LIMIT = 4096
CONTEXT = {"tenant": "acme", "purpose": "backup"}


@pytest.fixture(scope="module")
def aes(shared_kms: Keys) -> LoadedKey:
    return shared_kms.load(shared_kms.create(KeySpec.AES_256).key_id)


@pytest.fixture(scope="module")
def other_aes(shared_kms: Keys) -> LoadedKey:
    return shared_kms.load(shared_kms.create(KeySpec.AES_256).key_id)


@pytest.fixture(scope="module")
def rsa_key(shared_kms: Keys) -> LoadedKey:
    return shared_kms.load(shared_kms.create(KeySpec.RSA_2048, KeyUsage.ENCRYPT_DECRYPT).key_id)


def encrypt(key: LoadedKey, plaintext: bytes, context: dict[str, str] | None = None) -> bytes:
    return operations.encrypt(
        key, plaintext=plaintext, context=context, max_message_bytes=LIMIT
    ).ciphertext


def decrypt(key: LoadedKey, blob: bytes, context: dict[str, str] | None = None) -> bytes:
    return operations.decrypt(key, parse_ciphertext(blob), context=context).plaintext


def test_aes_gcm_round_trip_with_a_context(aes: LoadedKey) -> None:
    result = operations.encrypt(
        aes, plaintext=b"secret payroll", context=CONTEXT, max_message_bytes=LIMIT
    )
    opened = operations.decrypt(aes, parse_ciphertext(result.ciphertext), context=dict(CONTEXT))

    assert (result.key_id, result.key_version, result.algorithm) == (aes.key_id, 1, "AES_256_GCM")
    assert (opened.plaintext, opened.key_version, opened.algorithm) == (
        b"secret payroll",
        1,
        "AES_256_GCM",
    )
    assert b"secret payroll" not in result.ciphertext


def test_the_blob_names_its_key_and_version_and_is_fresh_each_time(aes: LoadedKey) -> None:
    first, second = encrypt(aes, b"same"), encrypt(aes, b"same")

    parsed = parse_ciphertext(first)
    id_length = len(aes.key_id)
    assert first[:4] == b"CWK1"
    assert (first[4], first[5]) == (1, id_length)
    assert first[6 : 6 + id_length] == aes.key_id.encode()
    assert struct.unpack(">I", first[6 + id_length : 10 + id_length]) == (1,)
    assert (parsed.key_id, parsed.version) == (aes.key_id, 1)
    assert len(first) == 10 + id_length + 12 + 4 + 16  # nonce, ciphertext, tag
    assert first != second  # a new nonce every time


def test_the_blob_opens_with_aes_gcm_and_the_documented_associated_data(aes: LoadedKey) -> None:
    blob = encrypt(aes, b"interop", CONTEXT)
    parsed = parse_ciphertext(blob)
    aad = parsed.header + json.dumps(CONTEXT, sort_keys=True, separators=(",", ":")).encode()
    secret = aes.material(1).aead

    assert secret is not None
    assert secret.decrypt(parsed.payload[:12], parsed.payload[12:], aad) == b"interop"
    with pytest.raises(InvalidTag):
        secret.decrypt(parsed.payload[:12], parsed.payload[12:], aad.replace(b"CWK1", b"CWK2"))


@pytest.mark.parametrize(
    "context",
    [None, {}, {"tenant": "acme"}, {"tenant": "acme", "purpose": "restore"}, {"TENANT": "acme"}],
    ids=["none", "empty", "missing-pair", "changed-value", "changed-name"],
)
def test_a_different_context_fails_like_a_damaged_blob(
    aes: LoadedKey, context: dict[str, str] | None
) -> None:
    blob = encrypt(aes, b"bound", CONTEXT)

    with pytest.raises(KmsInvalidCiphertext) as raised:
        decrypt(aes, blob, context)

    assert raised.value.message == INVALID_CIPHERTEXT


def test_no_context_and_an_empty_context_are_the_same(aes: LoadedKey) -> None:
    assert decrypt(aes, encrypt(aes, b"plain", None), {}) == b"plain"


def test_every_changed_byte_of_the_blob_fails_with_one_message(
    aes: LoadedKey, other_aes: LoadedKey
) -> None:
    blob = encrypt(aes, b"tamper-evident", CONTEXT)
    messages = set()

    for index in range(len(blob)):
        damaged = bytearray(blob)
        damaged[index] ^= 0x01
        with pytest.raises((KmsInvalidCiphertext, InvalidInput)) as raised:
            parsed = parse_ciphertext(bytes(damaged))
            key = aes if parsed.key_id == aes.key_id else other_aes
            operations.decrypt(key, parsed, context=CONTEXT)
        if isinstance(raised.value, KmsInvalidCiphertext):
            messages.add(raised.value.message)

    assert messages == {INVALID_CIPHERTEXT}
    for truncated in (blob[:-1], blob[:20], b"", b"CWK1"):
        with pytest.raises(KmsInvalidCiphertext):
            decrypt(aes, truncated, CONTEXT)


def test_a_blob_of_another_key_is_refused_by_this_key(aes: LoadedKey, other_aes: LoadedKey) -> None:
    blob = encrypt(aes, b"mine")

    with pytest.raises(InvalidInput, match="made with key"):
        decrypt(other_aes, blob)


def test_rsa_oaep_blob_round_trip_binds_the_context(rsa_key: LoadedKey) -> None:
    result = operations.encrypt(
        rsa_key, plaintext=b"rsa secret", context=CONTEXT, max_message_bytes=LIMIT
    )

    assert result.algorithm == "RSAES_OAEP_SHA_256"
    assert parse_ciphertext(result.ciphertext).algorithm == "RSAES_OAEP_SHA_256"
    assert decrypt(rsa_key, result.ciphertext, CONTEXT) == b"rsa secret"
    with pytest.raises(KmsInvalidCiphertext):
        decrypt(rsa_key, result.ciphertext, {"tenant": "other"})


def test_a_bare_oaep_ciphertext_made_offline_decrypts(rsa_key: LoadedKey) -> None:
    public = load_pem_public_key(operations.get_public_key(rsa_key).public_key_pem)
    assert isinstance(public, rsa.RSAPublicKey)
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    raw = public.encrypt(b"made offline", oaep)

    assert operations.is_raw_rsa_ciphertext(rsa_key, raw)
    opened = operations.decrypt_raw(rsa_key, raw)
    assert (opened.plaintext, opened.key_version) == (b"made offline", 1)
    with pytest.raises(KmsInvalidCiphertext):
        operations.decrypt_raw(rsa_key, bytes([raw[0] ^ 1]) + raw[1:])


def test_rsa_plaintext_over_the_oaep_room_is_refused(rsa_key: LoadedKey) -> None:
    assert decrypt(rsa_key, encrypt(rsa_key, b"x" * 190)) == b"x" * 190
    with pytest.raises(InvalidInput, match="at most 190 bytes"):
        encrypt(rsa_key, b"x" * 191)


def test_plaintext_over_the_limit_points_to_data_keys(aes: LoadedKey) -> None:
    with pytest.raises(PayloadTooLarge, match="data key"):
        encrypt(aes, b"x" * (LIMIT + 1))


@pytest.mark.parametrize(
    ("spec", "algorithm"),
    [
        (KeySpec.AES_256, "RSAES_OAEP_SHA_256"),
        (KeySpec.RSA_2048, "AES_256_GCM"),
        (KeySpec.AES_256, "AES_128_GCM"),
    ],
    ids=str,
)
def test_an_algorithm_the_key_does_not_encrypt_with_is_unsupported(
    aes: LoadedKey, rsa_key: LoadedKey, spec: KeySpec, algorithm: str
) -> None:
    key = aes if spec is KeySpec.AES_256 else rsa_key
    with pytest.raises(KmsUnsupportedAlgorithm):
        operations.encrypt(key, plaintext=b"x", algorithm=algorithm, max_message_bytes=LIMIT)


def test_encrypting_with_a_signing_key_is_refused(shared_kms: Keys) -> None:
    signing = shared_kms.load(shared_kms.create(KeySpec.RSA_2048, KeyUsage.SIGN_VERIFY).key_id)

    with pytest.raises(KmsIncorrectKeyUsage, match="ENCRYPT_DECRYPT"):
        encrypt(signing, b"x")


@pytest.mark.parametrize(
    ("options", "size"),
    [
        ({}, 32),
        ({"key_spec": "AES_128"}, 16),
        ({"number_of_bytes": 1}, 1),
        ({"number_of_bytes": 1024}, 1024),
    ],
    ids=["default", "aes-128", "one-byte", "largest"],
)
def test_a_data_key_comes_in_clear_and_wrapped(
    aes: LoadedKey, options: dict[str, object], size: int
) -> None:
    data_key = operations.generate_data_key(aes, context=CONTEXT, **options)  # type: ignore[arg-type]

    assert data_key.plaintext is not None and len(data_key.plaintext) == size
    assert (data_key.key_id, data_key.key_version) == (aes.key_id, 1)
    assert decrypt(aes, data_key.ciphertext, CONTEXT) == data_key.plaintext


def test_a_data_key_without_plaintext_is_only_wrapped(rsa_key: LoadedKey) -> None:
    data_key = operations.generate_data_key(rsa_key, include_plaintext=False)

    assert data_key.plaintext is None
    assert len(decrypt(rsa_key, data_key.ciphertext)) == 32


@pytest.mark.parametrize(
    "options",
    [
        {"number_of_bytes": 0},
        {"number_of_bytes": 1025},
        {"key_spec": "AES_512"},
        {"key_spec": "AES_256", "number_of_bytes": 32},
    ],
    ids=["zero", "too-many", "unknown-spec", "both"],
)
def test_bad_data_key_requests_are_invalid_input(
    aes: LoadedKey, options: dict[str, object]
) -> None:
    with pytest.raises(InvalidInput):
        operations.generate_data_key(aes, **options)  # type: ignore[arg-type]


def test_re_encrypt_moves_a_blob_to_another_key_and_context(
    aes: LoadedKey, other_aes: LoadedKey, rsa_key: LoadedKey
) -> None:
    blob = encrypt(aes, b"moving", CONTEXT)

    moved = operations.re_encrypt(
        aes,
        parse_ciphertext(blob),
        other_aes,
        source_context=CONTEXT,
        destination_context={"a": "b"},
    )
    to_rsa = operations.re_encrypt(aes, parse_ciphertext(blob), rsa_key, source_context=CONTEXT)

    assert (moved.source_key_id, moved.source_key_version) == (aes.key_id, 1)
    assert (moved.key_id, moved.key_version) == (other_aes.key_id, 1)
    assert decrypt(other_aes, moved.ciphertext, {"a": "b"}) == b"moving"
    assert decrypt(rsa_key, to_rsa.ciphertext) == b"moving"
    with pytest.raises(KmsInvalidCiphertext):
        operations.re_encrypt(aes, parse_ciphertext(blob), other_aes, source_context={})


def test_random_bytes_are_fresh_and_bounded() -> None:
    assert len(operations.generate_random(1024)) == 1024
    assert operations.generate_random(32) != operations.generate_random(32)
    for wrong in (0, 1025):
        with pytest.raises(InvalidInput):
            operations.generate_random(wrong)


def test_a_context_must_map_strings_to_strings(aes: LoadedKey) -> None:
    with pytest.raises(InvalidInput, match="strings"):
        encrypt(aes, b"x", {"n": 1})  # type: ignore[dict-item]
