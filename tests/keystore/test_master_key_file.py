"""The master key files: format, permissions and recovery of one copy from the other."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from certward.errors import FilePermissionError, InvalidInput, KeystoreCorrupt, KeystoreMissing
from certward.files import write_atomic
from certward.keystore import master_key_file
from certward.keystore.master_key_file import (
    PRIMARY_FILE_NAME,
    STANDBY_FILE_NAME,
    MasterKeySet,
    decode_master_key_file,
    encode_master_key_file,
    load_master_keys,
    update_master_keys,
)

FILE_NAMES = [PRIMARY_FILE_NAME, STANDBY_FILE_NAME]


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return tmp_path / "keys"


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def overwrite(path: Path, data: bytes) -> None:
    """Replace a 0400 key file's content the way a faulty disk or a bad copy would."""
    os.chmod(path, 0o600)
    path.write_bytes(data)
    os.chmod(path, 0o400)


def twin_of(name: str) -> str:
    return STANDBY_FILE_NAME if name == PRIMARY_FILE_NAME else PRIMARY_FILE_NAME


def flip_byte(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


DAMAGES: dict[str, Callable[[bytes], bytes]] = {
    "flipped_byte_in_key": lambda data: flip_byte(data, 40),
    "flipped_byte_in_checksum": lambda data: flip_byte(data, len(data) - 1),
    "truncated": lambda data: data[: len(data) // 2],
    "empty": lambda data: b"",
    "garbage": lambda data: b"not a key file at all\n" * 5,
    "trailing_bytes": lambda data: data + b"\0",
}


# --- format ---------------------------------------------------------------------------


def test_encoding_round_trips_a_key_set_with_several_keys() -> None:
    key_set = MasterKeySet.generate().with_new_key().with_new_key()

    assert decode_master_key_file(encode_master_key_file(key_set)) == key_set


def test_encoding_is_canonical() -> None:
    data = encode_master_key_file(MasterKeySet.generate().with_new_key())

    assert encode_master_key_file(decode_master_key_file(data)) == data


def test_file_starts_with_magic_and_version() -> None:
    data = encode_master_key_file(MasterKeySet.generate())

    assert data[:6] == b"CWMK\x00\x01"


def test_every_flipped_byte_is_detected() -> None:
    data = encode_master_key_file(MasterKeySet.generate().with_new_key())

    for index in range(len(data)):
        with pytest.raises(KeystoreCorrupt):
            decode_master_key_file(flip_byte(data, index))


def test_every_truncation_is_detected() -> None:
    data = encode_master_key_file(MasterKeySet.generate())

    for length in range(len(data)):
        with pytest.raises(KeystoreCorrupt):
            decode_master_key_file(data[:length])


def test_unknown_version_is_refused_by_name() -> None:
    data = bytearray(encode_master_key_file(MasterKeySet.generate()))
    data[5] = 2

    with pytest.raises(KeystoreCorrupt, match="version 2"):
        decode_master_key_file(bytes(data))


def test_master_key_repr_does_not_show_the_secret() -> None:
    key = MasterKeySet.generate().primary

    assert key.secret.hex() not in repr(key)
    assert repr(key.secret) not in repr(key)


def test_created_at_is_kept_to_the_second() -> None:
    now = datetime(2030, 1, 2, 3, 4, 5, 678, tzinfo=UTC)

    key_set = decode_master_key_file(encode_master_key_file(MasterKeySet.generate(now=now)))

    assert key_set.primary.created_at == now.replace(microsecond=0)


# --- creation and permissions --------------------------------------------------------------


def test_first_load_creates_both_files_0400_in_a_0700_dir(keys_dir: Path) -> None:
    load_master_keys(keys_dir, create=True)

    assert mode_of(keys_dir) == 0o700
    for name in FILE_NAMES:
        assert mode_of(keys_dir / name) == 0o400


def test_both_files_hold_the_same_bytes(keys_dir: Path) -> None:
    load_master_keys(keys_dir, create=True)

    assert (keys_dir / PRIMARY_FILE_NAME).read_bytes() == (
        keys_dir / STANDBY_FILE_NAME
    ).read_bytes()


def test_second_load_returns_the_same_keys(keys_dir: Path) -> None:
    first = load_master_keys(keys_dir, create=True)

    assert load_master_keys(keys_dir, create=False) == first


def test_new_key_is_32_random_bytes_with_id_1(keys_dir: Path) -> None:
    key_set = load_master_keys(keys_dir, create=True)

    assert key_set.key_ids == (1,)
    assert len(key_set.primary.secret) == 32
    other = load_master_keys(keys_dir.parent / "other", create=True)
    assert key_set.primary.secret != other.primary.secret


def test_keys_dir_open_to_others_is_refused(keys_dir: Path) -> None:
    keys_dir.mkdir(mode=0o755)
    os.chmod(keys_dir, 0o755)  # noqa: S103 - the refused case itself

    with pytest.raises(FilePermissionError, match="chmod 700"):
        load_master_keys(keys_dir, create=True)
    assert not (keys_dir / PRIMARY_FILE_NAME).exists()


def test_key_file_readable_by_others_is_refused(keys_dir: Path) -> None:
    load_master_keys(keys_dir, create=True)
    os.chmod(keys_dir / PRIMARY_FILE_NAME, 0o644)

    with pytest.raises(FilePermissionError, match="chmod 400"):
        load_master_keys(keys_dir, create=False)


# --- recovery ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", FILE_NAMES)
def test_deleted_file_is_restored_byte_identical_from_its_twin(keys_dir: Path, name: str) -> None:
    original = load_master_keys(keys_dir, create=True)
    expected = (keys_dir / name).read_bytes()
    (keys_dir / name).unlink()

    recovered = load_master_keys(keys_dir, create=False)

    assert recovered == original
    assert (keys_dir / name).read_bytes() == expected
    assert mode_of(keys_dir / name) == 0o400


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
@pytest.mark.parametrize("name", FILE_NAMES)
def test_damaged_file_is_restored_from_its_twin(
    keys_dir: Path, name: str, damage: Callable[[bytes], bytes]
) -> None:
    original = load_master_keys(keys_dir, create=True)
    expected = (keys_dir / name).read_bytes()
    overwrite(keys_dir / name, damage(expected))

    recovered = load_master_keys(keys_dir, create=False)

    assert recovered == original
    assert (keys_dir / name).read_bytes() == expected
    assert mode_of(keys_dir / name) == 0o400


def test_restoration_logs_a_warning_without_key_bytes(keys_dir: Path) -> None:
    key_set = load_master_keys(keys_dir, create=True)
    (keys_dir / STANDBY_FILE_NAME).unlink()

    with capture_logs() as logs:
        load_master_keys(keys_dir, create=False)

    [event] = [entry for entry in logs if entry["event"] == "keystore.file_restored"]
    assert event["log_level"] == "warning"
    assert event["file"].endswith(STANDBY_FILE_NAME)
    assert event["source"].endswith(PRIMARY_FILE_NAME)
    assert event["reason"] == "missing"
    secret = key_set.primary.secret
    assert secret.hex() not in repr(logs)
    assert repr(secret) not in repr(logs)


def test_healthy_files_are_not_rewritten(keys_dir: Path) -> None:
    load_master_keys(keys_dir, create=True)
    before = {name: (keys_dir / name).stat().st_ino for name in FILE_NAMES}

    with capture_logs() as logs:
        load_master_keys(keys_dir, create=False)

    assert {name: (keys_dir / name).stat().st_ino for name in FILE_NAMES} == before
    assert logs == []


def test_both_files_missing_without_create_is_keystore_missing(keys_dir: Path) -> None:
    load_master_keys(keys_dir, create=True)
    for name in FILE_NAMES:
        (keys_dir / name).unlink()

    with pytest.raises(KeystoreMissing) as caught:
        load_master_keys(keys_dir, create=False)

    assert PRIMARY_FILE_NAME in caught.value.message
    assert STANDBY_FILE_NAME in caught.value.message
    assert "backup" in caught.value.message
    assert list(keys_dir.iterdir()) == []


def test_missing_keys_dir_without_create_is_keystore_missing(keys_dir: Path) -> None:
    with pytest.raises(KeystoreMissing):
        load_master_keys(keys_dir, create=False)


def test_both_files_damaged_is_keystore_corrupt(keys_dir: Path) -> None:
    load_master_keys(keys_dir, create=True)
    overwrite(keys_dir / PRIMARY_FILE_NAME, b"")
    overwrite(keys_dir / STANDBY_FILE_NAME, b"garbage")

    with pytest.raises(KeystoreCorrupt, match="both master key files"):
        load_master_keys(keys_dir, create=True)


def test_one_damaged_and_one_missing_is_keystore_corrupt_not_new_keys(keys_dir: Path) -> None:
    load_master_keys(keys_dir, create=True)
    overwrite(keys_dir / PRIMARY_FILE_NAME, b"garbage")
    (keys_dir / STANDBY_FILE_NAME).unlink()

    with pytest.raises(KeystoreCorrupt):
        load_master_keys(keys_dir, create=True)


@pytest.mark.parametrize("name", FILE_NAMES)
def test_higher_generation_wins_and_repairs_the_other(keys_dir: Path, name: str) -> None:
    old = load_master_keys(keys_dir, create=True)
    newer = old.with_new_key()
    overwrite(keys_dir / name, encode_master_key_file(newer))

    assert load_master_keys(keys_dir, create=False) == newer
    assert (keys_dir / twin_of(name)).read_bytes() == encode_master_key_file(newer)


def test_same_generation_with_different_keys_is_keystore_corrupt(keys_dir: Path) -> None:
    load_master_keys(keys_dir, create=True)
    overwrite(keys_dir / STANDBY_FILE_NAME, encode_master_key_file(MasterKeySet.generate()))

    with pytest.raises(KeystoreCorrupt, match="same generation"):
        load_master_keys(keys_dir, create=False)


# --- updates ----------------------------------------------------------------------------


def test_update_writes_standby_before_primary(
    keys_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_master_keys(keys_dir, create=True)
    written: list[str] = []

    def recording_write(path: Path, data: bytes, *, mode: int) -> None:
        written.append(path.name)
        write_atomic(path, data, mode=mode)

    monkeypatch.setattr(f"{master_key_file.__name__}.write_atomic", recording_write)

    update_master_keys(keys_dir, lambda current: current.with_new_key())

    assert written == [STANDBY_FILE_NAME, PRIMARY_FILE_NAME]


def test_update_bumps_generation_and_keeps_files_0400(keys_dir: Path) -> None:
    first = load_master_keys(keys_dir, create=True)

    updated = update_master_keys(keys_dir, lambda current: current.with_new_key())

    assert updated.generation == first.generation + 1
    assert updated.key_ids == (1, 2)
    assert updated.primary_id == 2
    assert load_master_keys(keys_dir, create=False) == updated
    for name in FILE_NAMES:
        assert mode_of(keys_dir / name) == 0o400


def test_update_without_change_writes_nothing(keys_dir: Path) -> None:
    load_master_keys(keys_dir, create=True)
    before = (keys_dir / PRIMARY_FILE_NAME).stat().st_ino

    update_master_keys(keys_dir, lambda current: current.retaining([1]))

    assert (keys_dir / PRIMARY_FILE_NAME).stat().st_ino == before


def test_retaining_must_keep_the_primary() -> None:
    key_set = MasterKeySet.generate().with_new_key()

    with pytest.raises(InvalidInput, match="primary"):
        key_set.retaining([1])


def test_retaining_an_unknown_id_is_refused() -> None:
    with pytest.raises(InvalidInput, match="7"):
        MasterKeySet.generate().retaining([1, 7])
