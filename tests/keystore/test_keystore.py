"""The Keystore: loading, sealing, fingerprints and crash-safe master key rotation."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from certward.errors import (
    DecryptionFailed,
    FilePermissionError,
    InvalidInput,
    KeystoreCorrupt,
    KeystoreMissing,
)
from certward.files import write_atomic
from certward.keystore import PRIMARY_FILE_NAME, STANDBY_FILE_NAME, Keystore, master_key_file

RECORD = "ca/root/key"
SECRET = b"private key bytes"


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


@pytest.fixture
def keystore(keys_dir: Path) -> Keystore:
    return Keystore.load(keys_dir, create=True)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- loading ----------------------------------------------------------------------------


def test_load_creates_the_key_files_with_private_modes(keystore: Keystore, keys_dir: Path) -> None:
    assert mode_of(keys_dir) == 0o700
    assert mode_of(keys_dir / PRIMARY_FILE_NAME) == 0o400
    assert mode_of(keys_dir / STANDBY_FILE_NAME) == 0o400
    assert keystore.keys_dir == keys_dir
    assert keystore.key_ids == (1,)
    assert keystore.primary_key_id == 1


def test_reloaded_keystore_opens_what_the_first_sealed(keystore: Keystore, keys_dir: Path) -> None:
    blob = keystore.seal(SECRET, record_id=RECORD)

    reloaded = Keystore.load(keys_dir, create=False)

    assert reloaded.open(blob, record_id=RECORD) == SECRET


def test_both_key_files_deleted_is_keystore_missing_when_data_exists(
    keystore: Keystore, keys_dir: Path
) -> None:
    for name in (PRIMARY_FILE_NAME, STANDBY_FILE_NAME):
        (keys_dir / name).unlink()

    with pytest.raises(KeystoreMissing, match="restore a backup"):
        Keystore.load(keys_dir, create=False)


@pytest.mark.parametrize("name", [PRIMARY_FILE_NAME, STANDBY_FILE_NAME])
def test_data_still_opens_after_one_key_file_is_lost(
    keystore: Keystore, keys_dir: Path, name: str
) -> None:
    blob = keystore.seal(SECRET, record_id=RECORD)
    (keys_dir / name).unlink()

    assert Keystore.load(keys_dir, create=False).open(blob, record_id=RECORD) == SECRET
    assert mode_of(keys_dir / name) == 0o400


def test_both_key_files_corrupted_is_keystore_corrupt(keystore: Keystore, keys_dir: Path) -> None:
    for name in (PRIMARY_FILE_NAME, STANDBY_FILE_NAME):
        path = keys_dir / name
        os.chmod(path, 0o600)
        path.write_bytes(path.read_bytes()[:-1])

    with pytest.raises(KeystoreCorrupt):
        Keystore.load(keys_dir, create=False)


def test_keys_dir_with_mode_0755_is_refused(keys_dir: Path) -> None:
    keys_dir.mkdir()
    os.chmod(keys_dir, 0o755)  # noqa: S103 - the refused case itself

    with pytest.raises(FilePermissionError):
        Keystore.load(keys_dir, create=True)


def test_repr_shows_no_key_material(keystore: Keystore) -> None:
    secret = master_key_file.load_master_keys(keystore.keys_dir, create=False).primary.secret

    assert secret.hex() not in repr(keystore)
    assert keystore.fingerprint in repr(keystore)


# --- fingerprint --------------------------------------------------------------------------


def test_fingerprint_is_16_hex_digits_stable_across_loads(
    keystore: Keystore, keys_dir: Path
) -> None:
    assert re.fullmatch(r"[0-9a-f]{16}", keystore.fingerprint)
    assert Keystore.load(keys_dir, create=False).fingerprint == keystore.fingerprint


def test_fingerprint_differs_between_keystores(keystore: Keystore, tmp_path: Path) -> None:
    other = Keystore.load(tmp_path / "other-keys", create=True)

    assert other.fingerprint != keystore.fingerprint


def test_fingerprint_does_not_reveal_the_master_key(keystore: Keystore) -> None:
    secret = master_key_file.load_master_keys(keystore.keys_dir, create=False).primary.secret

    assert keystore.fingerprint not in secret.hex()


# --- sealing ------------------------------------------------------------------------------


def test_sealed_data_round_trips(keystore: Keystore) -> None:
    assert keystore.open(keystore.seal(SECRET, record_id=RECORD), record_id=RECORD) == SECRET


def test_wrong_record_id_fails(keystore: Keystore) -> None:
    blob = keystore.seal(SECRET, record_id="kms/a/v1")

    with pytest.raises(DecryptionFailed):
        keystore.open(blob, record_id="kms/b/v1")


def test_blob_of_another_keystore_fails(keystore: Keystore, tmp_path: Path) -> None:
    other = Keystore.load(tmp_path / "other-keys", create=True)

    with pytest.raises(DecryptionFailed):
        keystore.open(other.seal(SECRET, record_id=RECORD), record_id=RECORD)


def test_unknown_master_key_id_fails_naming_the_id(keystore: Keystore) -> None:
    blob = bytearray(keystore.seal(SECRET, record_id=RECORD))
    blob[1:5] = (9).to_bytes(4, "big")

    with pytest.raises(DecryptionFailed, match="master key 9"):
        keystore.open(bytes(blob), record_id=RECORD)


def test_every_tampered_byte_fails(keystore: Keystore) -> None:
    blob = keystore.seal(SECRET, record_id=RECORD)

    for index in range(len(blob)):
        tampered = blob[:index] + bytes([blob[index] ^ 0x01]) + blob[index + 1 :]
        with pytest.raises(DecryptionFailed):
            keystore.open(tampered, record_id=RECORD)


# --- rotation -----------------------------------------------------------------------------


def test_data_sealed_before_rotation_opens_after(keystore: Keystore) -> None:
    blob = keystore.seal(SECRET, record_id=RECORD)

    new_id = keystore.add_master_key()

    assert new_id == 2
    assert keystore.key_ids == (1, 2)
    assert keystore.primary_key_id == 2
    assert keystore.open(blob, record_id=RECORD) == SECRET


def test_new_seals_use_the_new_primary_key(keystore: Keystore) -> None:
    old_fingerprint = keystore.fingerprint

    keystore.add_master_key()
    blob = keystore.seal(SECRET, record_id=RECORD)

    assert blob[1:5] == (2).to_bytes(4, "big")
    assert keystore.fingerprint != old_fingerprint
    assert set(keystore.fingerprints) == {1, 2}
    assert keystore.fingerprints[1] == old_fingerprint


def test_rotation_keeps_key_files_0400(keystore: Keystore, keys_dir: Path) -> None:
    keystore.add_master_key()

    for name in (PRIMARY_FILE_NAME, STANDBY_FILE_NAME):
        assert mode_of(keys_dir / name) == 0o400


def test_rewrap_moves_the_blob_to_the_new_key_and_keeps_the_payload(keystore: Keystore) -> None:
    blob = keystore.seal(SECRET, record_id=RECORD)
    keystore.add_master_key()

    rewrapped = keystore.rewrap(blob, record_id=RECORD)

    assert rewrapped[1:5] == (2).to_bytes(4, "big")
    assert rewrapped[-(len(SECRET) + 16) :] == blob[-(len(SECRET) + 16) :]
    assert keystore.open(rewrapped, record_id=RECORD) == SECRET


def test_rewrap_of_a_blob_under_the_primary_returns_it_unchanged(keystore: Keystore) -> None:
    blob = keystore.seal(SECRET, record_id=RECORD)

    assert keystore.rewrap(blob, record_id=RECORD) == blob


def test_rewrap_with_wrong_record_id_fails(keystore: Keystore) -> None:
    blob = keystore.seal(SECRET, record_id=RECORD)
    keystore.add_master_key()

    with pytest.raises(DecryptionFailed):
        keystore.rewrap(blob, record_id="other")


def test_after_retire_only_rewrapped_blobs_open(keystore: Keystore, keys_dir: Path) -> None:
    forgotten = keystore.seal(SECRET, record_id="forgotten")
    migrated = keystore.seal(SECRET, record_id=RECORD)
    keystore.add_master_key()
    migrated = keystore.rewrap(migrated, record_id=RECORD)

    keystore.retire_master_keys(keep=[keystore.primary_key_id])

    assert keystore.key_ids == (2,)
    assert Keystore.load(keys_dir, create=False).key_ids == (2,)
    assert keystore.open(migrated, record_id=RECORD) == SECRET
    with pytest.raises(DecryptionFailed, match="master key 1"):
        keystore.open(forgotten, record_id="forgotten")


def test_retire_must_keep_the_primary_key(keystore: Keystore) -> None:
    keystore.add_master_key()

    with pytest.raises(InvalidInput, match="primary"):
        keystore.retire_master_keys(keep=[1])
    assert keystore.key_ids == (1, 2)


def test_crash_between_add_and_retire_leaves_everything_openable(
    keystore: Keystore, keys_dir: Path
) -> None:
    old_blob = keystore.seal(SECRET, record_id="old")
    half_done = keystore.seal(SECRET, record_id="half")
    keystore.add_master_key()
    new_blob = keystore.seal(SECRET, record_id="new")
    half_done = keystore.rewrap(half_done, record_id="half")
    del keystore  # the process dies before the re-wrap transaction commits

    restarted = Keystore.load(keys_dir, create=False)

    assert restarted.open(old_blob, record_id="old") == SECRET
    assert restarted.open(half_done, record_id="half") == SECRET
    assert restarted.open(new_blob, record_id="new") == SECRET
    assert restarted.primary_key_id == 2


def test_crash_between_the_two_file_writes_of_a_rotation_loses_nothing(
    keystore: Keystore, keys_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_blob = keystore.seal(SECRET, record_id=RECORD)

    def crash_on_primary(path: Path, data: bytes, *, mode: int) -> None:
        if path.name == PRIMARY_FILE_NAME:
            raise KeyboardInterrupt("simulated crash")
        write_atomic(path, data, mode=mode)

    monkeypatch.setattr(f"{master_key_file.__name__}.write_atomic", crash_on_primary)
    with pytest.raises(KeyboardInterrupt):
        keystore.add_master_key()
    monkeypatch.undo()

    restarted = Keystore.load(keys_dir, create=False)

    assert restarted.key_ids == (1, 2)
    assert restarted.open(old_blob, record_id=RECORD) == SECRET
    assert (keys_dir / PRIMARY_FILE_NAME).read_bytes() == (
        keys_dir / STANDBY_FILE_NAME
    ).read_bytes()


def test_rotation_by_another_process_is_seen_after_reload(
    keystore: Keystore, keys_dir: Path
) -> None:
    other_process = Keystore.load(keys_dir, create=False)
    other_process.add_master_key()

    keystore.reload()

    assert keystore.primary_key_id == 2
    assert keystore.fingerprint == other_process.fingerprint


def test_rotation_builds_on_keys_added_by_another_process(
    keystore: Keystore, keys_dir: Path
) -> None:
    Keystore.load(keys_dir, create=False).add_master_key()

    new_id = keystore.add_master_key()

    assert new_id == 3
    assert keystore.key_ids == (1, 2, 3)
