"""Secrets derived from the master keys (HKDF): same keys, same secret; any change, another."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from certward.errors import DecryptionFailed
from certward.keystore import Keystore


@pytest.fixture
def keystore(tmp_path: Path) -> Keystore:
    return Keystore.load(tmp_path / "keys", create=True)


def test_a_copy_of_the_master_keys_derives_the_same_secret(
    keystore: Keystore, tmp_path: Path
) -> None:
    shutil.copytree(keystore.keys_dir, tmp_path / "copy")
    copy = Keystore.load(tmp_path / "copy", create=False)

    assert copy.derive_secret("console.csrf") == keystore.derive_secret("console.csrf")
    assert len(keystore.derive_secret("console.csrf")) == 32


def test_each_purpose_gets_its_own_secret(keystore: Keystore) -> None:
    assert keystore.derive_secret("console.csrf") != keystore.derive_secret("other")


def test_other_master_keys_derive_another_secret(keystore: Keystore, tmp_path: Path) -> None:
    other = Keystore.load(tmp_path / "other", create=True)

    assert other.derive_secret("console.csrf") != keystore.derive_secret("console.csrf")


def test_after_a_rotation_the_old_key_still_derives_its_secret(keystore: Keystore) -> None:
    before = keystore.derive_secret("console.csrf")
    old = keystore.primary_key_id

    keystore.add_master_key()

    assert keystore.derive_secret("console.csrf") != before
    assert keystore.derive_secret("console.csrf", key_id=old) == before


def test_a_key_the_keystore_does_not_hold_is_refused(keystore: Keystore) -> None:
    with pytest.raises(DecryptionFailed):
        keystore.derive_secret("console.csrf", key_id=99)
