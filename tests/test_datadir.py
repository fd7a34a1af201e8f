"""The data directory: idempotent init, private modes, and refusing lost or foreign master keys."""

from __future__ import annotations

import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from certward.ca.authority import create_ca, get_ca
from certward.ca.context import CAContext
from certward.config import load_settings
from certward.datadir import DataDir, initialise_data_dir, open_data_dir
from certward.errors import (
    ConfigError,
    FilePermissionError,
    KeystoreMismatch,
    KeystoreMissing,
    NotFound,
    SchemaMismatch,
)
from certward.keystore import PRIMARY_FILE_NAME, STANDBY_FILE_NAME


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def opened() -> Iterator[list[CAContext]]:
    """Contexts a test opened; their engines are disposed afterwards."""
    contexts: list[CAContext] = []
    yield contexts
    for context in contexts:
        context.database.dispose()


@pytest.fixture
def initialised(data_dir: Path, opened: list[CAContext]) -> CAContext:
    """An initialised data dir (SQLite) holding one CA, so sealed data exists."""
    context = initialise_data_dir(data_dir)
    opened.append(context)
    create_ca(context, name="root", subject="/CN=Root")
    return context


def _open(path: Path, opened: list[CAContext]) -> CAContext:
    context = open_data_dir(path)
    opened.append(context)
    return context


# --- init -----------------------------------------------------------------------------------


def test_init_creates_the_layout(initialised: CAContext, data_dir: Path) -> None:
    layout = DataDir(data_dir)

    assert layout.config_file.is_file()
    assert (data_dir / "certward.db").is_file()
    assert (layout.keys_dir / PRIMARY_FILE_NAME).is_file()
    assert (layout.keys_dir / STANDBY_FILE_NAME).is_file()
    assert layout.published_dir.is_dir()


def test_init_makes_the_data_dir_and_keys_private(initialised: CAContext, data_dir: Path) -> None:
    keys = DataDir(data_dir).keys_dir

    assert _mode(data_dir) == 0o700
    assert _mode(keys) == 0o700
    assert _mode(keys / PRIMARY_FILE_NAME) == 0o400
    assert _mode(keys / STANDBY_FILE_NAME) == 0o400
    assert _mode(DataDir(data_dir).config_file) == 0o600


def test_init_twice_keeps_the_same_keystore_and_data(
    initialised: CAContext, data_dir: Path, opened: list[CAContext]
) -> None:
    config = DataDir(data_dir).config_file.read_bytes()

    again = initialise_data_dir(data_dir)
    opened.append(again)

    assert again.keystore.fingerprint == initialised.keystore.fingerprint
    assert get_ca(again, "root") == get_ca(initialised, "root")
    assert DataDir(data_dir).config_file.read_bytes() == config


def test_init_writes_a_config_file_that_loads_to_the_defaults(
    initialised: CAContext, data_dir: Path, tmp_path: Path
) -> None:
    written = load_settings(data_dir).model_dump()

    assert written == load_settings(tmp_path / "no-config-here").model_dump()


def test_init_keeps_an_edited_config_file(data_dir: Path, opened: list[CAContext]) -> None:
    opened.append(initialise_data_dir(data_dir))
    DataDir(data_dir).config_file.write_text("crl_days = 3\n")

    again = initialise_data_dir(data_dir)
    opened.append(again)

    assert again.settings.crl_days == 3


def test_init_refuses_a_directory_others_can_enter(data_dir: Path) -> None:
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)

    with pytest.raises(FilePermissionError, match="chmod 700"):
        initialise_data_dir(data_dir)

    assert list(data_dir.iterdir()) == []


def test_init_with_a_bad_profile_is_a_config_error_and_creates_no_keys(data_dir: Path) -> None:
    data_dir.mkdir(mode=0o700)
    DataDir(data_dir).config_file.write_text(
        '[profiles.web]\nbase = "server"\nallowed_key_types = ["dsa-1024"]\n'
    )

    with pytest.raises(ConfigError, match="dsa-1024"):
        initialise_data_dir(data_dir)

    assert not DataDir(data_dir).keys_dir.exists()
    assert not (data_dir / "certward.db").exists()


# --- open -----------------------------------------------------------------------------------


def test_open_of_an_initialised_dir_uses_its_keystore(
    initialised: CAContext, data_dir: Path, opened: list[CAContext]
) -> None:
    context = _open(data_dir, opened)

    assert context.keystore.fingerprint == initialised.keystore.fingerprint
    assert get_ca(context, "root").name == "root"


def test_open_of_a_missing_dir_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="init"):
        open_data_dir(tmp_path / "nothing-here")

    assert not (tmp_path / "nothing-here").exists()


def test_open_of_an_empty_dir_is_not_found(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir(mode=0o700)

    with pytest.raises(NotFound):
        open_data_dir(empty)

    assert list(empty.iterdir()) == []


def test_both_key_files_deleted_is_keystore_missing(
    initialised: CAContext, data_dir: Path, opened: list[CAContext]
) -> None:
    keys = DataDir(data_dir).keys_dir
    (keys / PRIMARY_FILE_NAME).unlink()
    (keys / STANDBY_FILE_NAME).unlink()

    with pytest.raises(KeystoreMissing, match="restore"):
        _open(data_dir, opened)

    assert list(keys.iterdir()) == []


def test_both_key_files_deleted_is_keystore_missing_for_init_too(
    initialised: CAContext, data_dir: Path
) -> None:
    keys = DataDir(data_dir).keys_dir
    (keys / PRIMARY_FILE_NAME).unlink()
    (keys / STANDBY_FILE_NAME).unlink()

    with pytest.raises(KeystoreMissing):
        initialise_data_dir(data_dir)

    assert list(keys.iterdir()) == []


def test_keys_of_another_installation_are_keystore_mismatch(
    initialised: CAContext, data_dir: Path, tmp_path: Path, opened: list[CAContext]
) -> None:
    other = tmp_path / "other-installation"
    opened.append(initialise_data_dir(other))
    keys = DataDir(data_dir).keys_dir
    shutil.rmtree(keys)
    shutil.copytree(DataDir(other).keys_dir, keys)

    with pytest.raises(KeystoreMismatch, match=initialised.keystore.fingerprint):
        _open(data_dir, opened)


@pytest.mark.parametrize("lost", [PRIMARY_FILE_NAME, STANDBY_FILE_NAME])
def test_one_deleted_key_file_is_restored_from_the_other(
    initialised: CAContext, data_dir: Path, opened: list[CAContext], lost: str
) -> None:
    keys = DataDir(data_dir).keys_dir
    (keys / lost).unlink()

    context = _open(data_dir, opened)

    assert context.keystore.fingerprint == initialised.keystore.fingerprint
    assert (keys / lost).read_bytes() == (keys / PRIMARY_FILE_NAME).read_bytes()
    assert _mode(keys / lost) == 0o400


def test_sealed_ca_key_still_opens_after_a_key_file_is_restored(
    initialised: CAContext, data_dir: Path, opened: list[CAContext]
) -> None:
    (DataDir(data_dir).keys_dir / PRIMARY_FILE_NAME).unlink()
    context = _open(data_dir, opened)

    create_ca(context, name="sub", subject="/CN=Sub", parent="root")

    assert get_ca(context, "sub").parent == "root"


def test_open_refuses_a_data_dir_that_became_world_readable(
    initialised: CAContext, data_dir: Path
) -> None:
    data_dir.chmod(0o755)

    with pytest.raises(FilePermissionError):
        open_data_dir(data_dir)


def test_open_refuses_an_unmigrated_database(
    data_dir: Path, tmp_path: Path, opened: list[CAContext]
) -> None:
    opened.append(initialise_data_dir(data_dir))
    empty_db = tmp_path / "empty.db"

    with pytest.raises(SchemaMismatch):
        open_data_dir(data_dir, database=f"sqlite:///{empty_db}")
