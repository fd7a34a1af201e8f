"""The KMC side of ``certward import``: master keys in the target, and ``server_key_mm``.

certImport encrypts the server key's password with KMC master keys (``kmc.ks``
and its standby ``StandbyKsf.ks``) and writes the result as ``server_key_mm``.
certward does the same with its own keystore: the imported key file is
re-encrypted under a fresh random password (the operator's password is never
stored anywhere), and that password is sealed with the master keys of the
target directory (AES-256-GCM envelope, record id :data:`KEY_PASSWORD_RECORD`).

Planning reads the master key files without changing them, so an import that is
refused later leaves them untouched; missing or damaged copies are written as
part of the import's one commit.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from certward.errors import (
    DecryptionFailed,
    FilePermissionError,
    InvalidInput,
    KeystoreCorrupt,
)
from certward.keystore import PRIMARY_FILE_NAME, STANDBY_FILE_NAME, Keystore, MasterKeySet
from certward.keystore.master_key_file import decode_master_key_file, encode_master_key_file

__all__ = [
    "KEY_PASSWORD_RECORD",
    "MasterKeyPlan",
    "new_key_password",
    "plan_master_keys",
    "recover_key_password",
    "seal_key_password",
]

KEY_PASSWORD_RECORD = "certimport/server_key_mm"  # noqa: S105 (a record id, not a secret)
_MAX_MASTER_FILE = 1 << 20


@dataclass(frozen=True)
class MasterKeyPlan:
    """The master keys the import seals with, and the key files it must (re)write."""

    key_set: MasterKeySet = field(repr=False)
    writes: dict[str, bytes] = field(repr=False)  # file name -> content
    created: bool

    def keystore(self, keys_dir: Path) -> Keystore:
        """A keystore over these keys (in memory: nothing is read or written)."""
        return Keystore(keys_dir, self.key_set)


def _read_master_copy(path: Path) -> MasterKeySet | None:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInput(f"master key file {path} is not a regular file")
    if info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o077:
        raise FilePermissionError(
            f"master key file {path} must belong to the current user with mode 0400; "
            f"run: chown $(id -un) {path} && chmod 400 {path}"
        )
    if info.st_size > _MAX_MASTER_FILE:
        return None
    try:
        return decode_master_key_file(path.read_bytes())
    except KeystoreCorrupt:
        return None


def plan_master_keys(keys_dir: Path, *, exists: bool) -> MasterKeyPlan:
    """The target's master keys (new ones if it has neither file), read without writing.

    A copy that is missing, damaged or of an older generation is planned to be
    rewritten from the other; both present but unusable is KeystoreCorrupt.
    """
    primary_path, standby_path = keys_dir / PRIMARY_FILE_NAME, keys_dir / STANDBY_FILE_NAME
    if not exists or not (primary_path.exists() or standby_path.exists()):
        key_set = MasterKeySet.generate()
        content = encode_master_key_file(key_set)
        return MasterKeyPlan(
            key_set=key_set,
            writes={STANDBY_FILE_NAME: content, PRIMARY_FILE_NAME: content},
            created=True,
        )
    copies = {
        PRIMARY_FILE_NAME: _read_master_copy(primary_path),
        STANDBY_FILE_NAME: _read_master_copy(standby_path),
    }
    good = [key_set for key_set in copies.values() if key_set is not None]
    if not good:
        raise KeystoreCorrupt(
            f"the master key files in {keys_dir} are unusable; restore them from a backup "
            "(new keys would not open the existing server_key_mm)"
        )
    winner = max(good, key=lambda key_set: key_set.generation)
    content = encode_master_key_file(winner)
    writes = {
        name: content
        for name, key_set in copies.items()
        if key_set is None or encode_master_key_file(key_set) != content
    }
    return MasterKeyPlan(key_set=winner, writes=writes, created=False)


def new_key_password() -> bytes:
    """A fresh random password for the re-encrypted key file (64 characters, URL-safe)."""
    return secrets.token_urlsafe(48).encode("ascii")


def seal_key_password(keystore: Keystore, password: bytes) -> str:
    """``server_key_mm``: the password sealed with the master keys, as base64 text."""
    return base64.b64encode(keystore.seal(password, record_id=KEY_PASSWORD_RECORD)).decode("ascii")


def recover_key_password(keys_dir: Path, server_key_mm: str) -> bytes:
    """The password of the imported key file, from ``server_key_mm`` and the master keys.

    Raises DecryptionFailed when the value is damaged or sealed under other master keys.
    """
    try:
        blob = base64.b64decode(server_key_mm.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise DecryptionFailed("server_key_mm is not valid base64") from None
    keystore = Keystore.load(Path(keys_dir), create=False)
    return keystore.open(blob, record_id=KEY_PASSWORD_RECORD)
