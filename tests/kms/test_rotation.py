"""Rotation: new primary versions on request and on schedule; old ones until retired."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from certward.errors import InvalidInput, KmsInvalidState, KmsVersionRetired
from certward.kms import operations
from certward.kms.ciphertext import parse_ciphertext
from certward.kms.keys import describe_key
from certward.kms.lifecycle import disable_key, enable_key, update_key_settings
from certward.kms.rotation import rotate_due_keys, rotate_key
from certward.kms.specs import KeyOrigin, KeySpec
from tests.kms.conftest import START, Keys

LIMIT = 4096


def test_data_encrypted_before_a_rotation_decrypts_after_it(kms: Keys) -> None:
    key = kms.create(KeySpec.AES_256)
    old_blob = operations.encrypt(
        kms.load(key.key_id), plaintext=b"v1 data", max_message_bytes=LIMIT
    ).ciphertext

    rotated = rotate_key(kms.ctx, key.key_id)
    loaded = kms.load(key.key_id)
    new_blob = operations.encrypt(loaded, plaintext=b"v2 data", max_message_bytes=LIMIT)

    assert (rotated.primary_version, [v.version for v in rotated.versions]) == (2, [1, 2])
    assert new_blob.key_version == 2
    old = operations.decrypt(loaded, parse_ciphertext(old_blob))
    assert (old.plaintext, old.key_version) == (b"v1 data", 1)
    assert operations.decrypt(loaded, parse_ciphertext(new_blob.ciphertext)).key_version == 2


def test_old_signatures_verify_with_the_version_that_made_them(kms: Keys) -> None:
    key = kms.create(KeySpec.EC_P256)
    old = operations.sign(
        kms.load(key.key_id), algorithm="ECDSA_SHA_256", message=b"m", max_message_bytes=LIMIT
    )

    rotate_key(kms.ctx, key.key_id)
    loaded = kms.load(key.key_id)
    new = operations.sign(loaded, algorithm="ECDSA_SHA_256", message=b"m", max_message_bytes=LIMIT)

    def verify(signature: bytes, version: int | None) -> bool:
        return operations.verify(
            loaded,
            algorithm="ECDSA_SHA_256",
            signature=signature,
            message=b"m",
            key_version=version,
            max_message_bytes=LIMIT,
        ).value

    assert (old.key_version, new.key_version) == (1, 2)
    assert verify(old.signature, 1) and verify(new.signature, None)
    assert not verify(old.signature, None)  # the primary (2) did not make it
    assert operations.get_public_key(loaded, key_version=1).public_key_pem != (
        operations.get_public_key(loaded).public_key_pem
    )


def test_min_decryption_version_retires_old_versions_with_a_clear_error(kms: Keys) -> None:
    key = kms.create(KeySpec.AES_256)
    old_blob = operations.encrypt(
        kms.load(key.key_id), plaintext=b"old", max_message_bytes=LIMIT
    ).ciphertext
    rotate_key(kms.ctx, key.key_id)

    retired = update_key_settings(kms.ctx, key.key_id, min_decryption_version=2)
    loaded = kms.load(key.key_id)

    assert retired.min_decryption_version == 2
    with pytest.raises(KmsVersionRetired, match=r"version 1 of key .* is retired") as raised:
        operations.decrypt(loaded, parse_ciphertext(old_blob))
    assert "min_decryption_version is 2" in raised.value.message
    update_key_settings(kms.ctx, key.key_id, min_decryption_version=1)
    assert operations.decrypt(kms.load(key.key_id), parse_ciphertext(old_blob)).plaintext == b"old"


def test_min_decryption_version_also_retires_old_signatures(kms: Keys) -> None:
    key = kms.create(KeySpec.ED25519)
    old = operations.sign(
        kms.load(key.key_id), algorithm="ED25519", message=b"m", max_message_bytes=LIMIT
    )
    rotate_key(kms.ctx, key.key_id)
    update_key_settings(kms.ctx, key.key_id, min_decryption_version=2)

    with pytest.raises(KmsVersionRetired):
        operations.verify(
            kms.load(key.key_id),
            algorithm="ED25519",
            signature=old.signature,
            message=b"m",
            key_version=1,
            max_message_bytes=LIMIT,
        )


@pytest.mark.parametrize("version", [0, 3])
def test_min_decryption_version_stays_within_the_versions(kms: Keys, version: int) -> None:
    key = kms.create(KeySpec.AES_256)
    rotate_key(kms.ctx, key.key_id)

    with pytest.raises(InvalidInput, match="must be 1-2"):
        update_key_settings(kms.ctx, key.key_id, min_decryption_version=version)
    assert describe_key(kms.ctx, key.key_id).min_decryption_version == 1


def test_keys_rotate_on_schedule_once_per_period(kms: Keys) -> None:
    due = kms.create(KeySpec.EC_P256, rotation_period_days=30)
    manual = kms.create(KeySpec.EC_P256)
    assert due.next_rotation_at == START.replace(day=31)

    kms.clock.advance(days=29)
    assert rotate_due_keys(kms.ctx) == ()
    kms.clock.advance(days=1)
    assert rotate_due_keys(kms.ctx) == (due.key_id,)
    assert rotate_due_keys(kms.ctx) == ()  # done for this period, whoever runs it again

    rotated = describe_key(kms.ctx, due.key_id)
    assert (rotated.primary_version, rotated.next_rotation_at) == (2, START.replace(month=3, day=2))
    assert describe_key(kms.ctx, manual.key_id).primary_version == 1


def test_a_disabled_key_is_not_rotated_until_enabled_again(kms: Keys) -> None:
    key = kms.create(KeySpec.AES_256, rotation_period_days=1)
    disable_key(kms.ctx, key.key_id)
    kms.clock.advance(days=3)

    assert rotate_due_keys(kms.ctx) == ()
    enable_key(kms.ctx, key.key_id)
    assert rotate_due_keys(kms.ctx) == (key.key_id,)
    assert describe_key(kms.ctx, key.key_id).primary_version == 2


def test_turning_rotation_on_and_off(kms: Keys) -> None:
    key = kms.create(KeySpec.HMAC_256)

    on = update_key_settings(kms.ctx, key.key_id, rotation_period_days=90)
    off = update_key_settings(kms.ctx, key.key_id, rotation_period_days=None)

    assert (on.rotation_period_days, on.next_rotation_at) == (90, START.replace(month=4, day=1))
    assert (off.rotation_period_days, off.next_rotation_at) == (None, None)


def test_imported_and_public_only_keys_do_not_rotate_here(kms: Keys) -> None:
    external = kms.create(KeySpec.AES_256, origin=KeyOrigin.EXTERNAL)

    with pytest.raises(KmsInvalidState, match="importing new material"):
        rotate_key(kms.ctx, external.key_id)
    with pytest.raises(InvalidInput, match="automatic rotation"):
        update_key_settings(kms.ctx, external.key_id, rotation_period_days=30)


def test_a_disabled_key_cannot_be_rotated_by_hand(kms: Keys) -> None:
    key = kms.create(KeySpec.AES_256)
    disable_key(kms.ctx, key.key_id)

    with pytest.raises(KmsInvalidState, match="only an enabled key"):
        rotate_key(kms.ctx, key.key_id)
    assert describe_key(kms.ctx, key.key_id).primary_version == 1


def test_processes_rotating_at_once_make_one_version_per_period(kms: Keys) -> None:
    key = kms.create(KeySpec.AES_256, rotation_period_days=1)
    kms.clock.advance(days=1)

    with ThreadPoolExecutor(max_workers=4) as pool:
        rounds = list(pool.map(lambda _: rotate_due_keys(kms.ctx), range(4)))

    assert sorted(rounds) == [(), (), (), (key.key_id,)]
    assert [v.version for v in describe_key(kms.ctx, key.key_id).versions] == [1, 2]
