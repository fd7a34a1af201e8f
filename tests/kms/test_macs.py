"""HMAC keys: generate and verify MACs; a wrong MAC is ``value=False``."""

from __future__ import annotations

import hmac

import pytest

from certward.errors import KmsIncorrectKeyUsage, KmsUnsupportedAlgorithm, PayloadTooLarge
from certward.kms import operations
from certward.kms.keys import LoadedKey
from certward.kms.specs import KeySpec
from tests.kms.conftest import Keys

LIMIT = 4096


@pytest.fixture(scope="module")
def hmac_keys(shared_kms: Keys) -> dict[KeySpec, LoadedKey]:
    return {
        spec: shared_kms.load(shared_kms.create(spec).key_id)
        for spec in (KeySpec.HMAC_256, KeySpec.HMAC_512)
    }


@pytest.mark.parametrize(
    ("spec", "algorithm", "digest"),
    [(KeySpec.HMAC_256, "HMAC_SHA_256", "sha256"), (KeySpec.HMAC_512, "HMAC_SHA_512", "sha512")],
    ids=str,
)
def test_a_mac_is_the_standard_hmac_of_the_message(
    hmac_keys: dict[KeySpec, LoadedKey], spec: KeySpec, algorithm: str, digest: str
) -> None:
    key = hmac_keys[spec]

    result = operations.generate_mac(
        key, message=b"payload", algorithm=algorithm, max_message_bytes=LIMIT
    )

    secret = key.material(1).secret
    assert secret is not None
    assert result.mac == hmac.digest(secret, b"payload", digest)
    assert (result.key_id, result.key_version, result.algorithm) == (key.key_id, 1, algorithm)
    checked = operations.verify_mac(
        key, message=b"payload", mac=result.mac, algorithm=algorithm, max_message_bytes=LIMIT
    )
    assert checked.value is True


def test_a_wrong_mac_verifies_false(hmac_keys: dict[KeySpec, LoadedKey]) -> None:
    key = hmac_keys[KeySpec.HMAC_256]
    mac = operations.generate_mac(
        key, message=b"payload", algorithm="HMAC_SHA_256", max_message_bytes=LIMIT
    ).mac

    for message, candidate in ((b"payload!", mac), (b"payload", mac[:-1]), (b"payload", b"")):
        assert not operations.verify_mac(
            key, message=message, mac=candidate, algorithm="HMAC_SHA_256", max_message_bytes=LIMIT
        ).value


def test_the_mac_algorithm_must_be_the_key_s(hmac_keys: dict[KeySpec, LoadedKey]) -> None:
    with pytest.raises(KmsUnsupportedAlgorithm, match="compute HMAC_SHA_256"):
        operations.generate_mac(
            hmac_keys[KeySpec.HMAC_256],
            message=b"x",
            algorithm="HMAC_SHA_512",
            max_message_bytes=LIMIT,
        )


def test_mac_messages_are_limited(hmac_keys: dict[KeySpec, LoadedKey]) -> None:
    with pytest.raises(PayloadTooLarge):
        operations.generate_mac(
            hmac_keys[KeySpec.HMAC_256],
            message=b"x" * (LIMIT + 1),
            algorithm="HMAC_SHA_256",
            max_message_bytes=LIMIT,
        )


def test_only_mac_keys_compute_macs_and_mac_keys_do_nothing_else(
    shared_kms: Keys, hmac_keys: dict[KeySpec, LoadedKey]
) -> None:
    aes = shared_kms.load(shared_kms.create(KeySpec.AES_256).key_id)
    mac_key = hmac_keys[KeySpec.HMAC_256]

    with pytest.raises(KmsIncorrectKeyUsage, match="GENERATE_VERIFY_MAC"):
        operations.generate_mac(
            aes, message=b"x", algorithm="HMAC_SHA_256", max_message_bytes=LIMIT
        )
    with pytest.raises(KmsIncorrectKeyUsage):
        operations.encrypt(mac_key, plaintext=b"x", max_message_bytes=LIMIT)
    with pytest.raises(KmsIncorrectKeyUsage, match="symmetric"):
        operations.get_public_key(mac_key)
