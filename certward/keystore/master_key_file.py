"""The master key files ``keys/kmc.ks`` and ``keys/StandbyKsf.ks``, and their mutual recovery.

Both files hold the same :class:`MasterKeySet`: every master key still needed
to open sealed data, which one is primary (used for new seals), and a
``generation`` counter that grows on every change.

File format, version 1 (integers big-endian)::

    magic       4   b"CWMK"
    version     2   1
    generation  8   unsigned, +1 on every change of the set
    primary_id  4   id of the primary key (one of the entries)
    count       4   number of entries, >= 1
    entries         count x (id 4, created_at 8 = Unix seconds UTC, secret 32)
                    strictly ascending by id
    checksum   32   SHA-256 of every byte before it

The encoding is canonical (one set, one byte string), so a file restored from
its twin is byte-identical to it. The checksum detects damage (truncation, a
flipped bit, a half-copied backup), not an attacker: whoever can write the keys
directory can replace the keys anyway; the directory's 0700 mode is the guard.

Reading (:func:`load_master_keys`): a copy that is missing, truncated, garbled
or fails its checksum is *damaged*. One damaged copy is restored from the good
one (atomically, 0400) with a warning. When both are valid but differ, the
higher generation wins and the other is repaired. Both missing: new keys only
when the caller allows it (``create=True``), otherwise :class:`KeystoreMissing`.
Nothing usable but something present: :class:`KeystoreCorrupt`.

Writing (:func:`update_master_keys`) replaces the standby first, then the
primary, each atomically: a crash between the two leaves the standby one
generation ahead, and the next load copies it over the primary. All reads and
writes hold an exclusive ``flock`` on the keys directory, so two processes
never interleave a rotation.
"""

from __future__ import annotations

import contextlib
import fcntl
import hmac
import os
import stat
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog
from cryptography.hazmat.primitives import hashes

from certward.errors import (
    FilePermissionError,
    InvalidInput,
    KeystoreCorrupt,
    KeystoreMissing,
)
from certward.files import READONLY_SECRET_MODE, ensure_private_dir, write_atomic

__all__ = [
    "MASTER_KEY_SIZE",
    "PRIMARY_FILE_NAME",
    "STANDBY_FILE_NAME",
    "MasterKey",
    "MasterKeySet",
    "decode_master_key_file",
    "encode_master_key_file",
    "load_master_keys",
    "update_master_keys",
]

PRIMARY_FILE_NAME = "kmc.ks"
STANDBY_FILE_NAME = "StandbyKsf.ks"
MASTER_KEY_SIZE = 32

_MAGIC = b"CWMK"
_VERSION = 1
_HEADER = struct.Struct(">4sHQII")
_ENTRY = struct.Struct(f">IQ{MASTER_KEY_SIZE}s")
_CHECKSUM_SIZE = 32
_MAX_ID = 2**32 - 1
# Far above any real file; bounds what we read from a garbled or hostile path.
_MAX_FILE_SIZE = 1 << 20
_FINGERPRINT_LABEL = b"certward keystore fingerprint"

_log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class MasterKey:
    """One 256-bit master key; ``secret`` is left out of ``repr`` so it never reaches a log."""

    key_id: int
    created_at: datetime
    secret: bytes = field(repr=False)

    @property
    def fingerprint(self) -> str:
        """A non-secret name of this key: 16 hex digits of an HMAC under it."""
        return hmac.digest(self.secret, _FINGERPRINT_LABEL, "sha256").hex()[:16]


@dataclass(frozen=True, slots=True)
class MasterKeySet:
    """The content of a master key file: keys by ascending id, the primary one, a generation."""

    generation: int
    primary_id: int
    keys: tuple[MasterKey, ...]

    def __post_init__(self) -> None:
        ids = [key.key_id for key in self.keys]
        if not ids or ids != sorted(set(ids)):
            raise ValueError("master keys must be non-empty and strictly ascending by id")
        if self.primary_id not in ids:
            raise ValueError(f"primary master key {self.primary_id} is not in the set")

    @classmethod
    def generate(cls, *, now: datetime | None = None) -> MasterKeySet:
        """A first set: one fresh key with id 1, generation 1."""
        return cls(generation=1, primary_id=1, keys=(_new_key(1, now),))

    @property
    def primary(self) -> MasterKey:
        """The key new data is sealed with."""
        return next(key for key in self.keys if key.key_id == self.primary_id)

    @property
    def key_ids(self) -> tuple[int, ...]:
        """Ids of every key in the set, ascending."""
        return tuple(key.key_id for key in self.keys)

    def with_new_key(self, *, now: datetime | None = None) -> MasterKeySet:
        """This set plus one fresh key (next id) that becomes primary."""
        new_id = self.keys[-1].key_id + 1
        if new_id > _MAX_ID:
            raise InvalidInput("master key ids are exhausted; retire keys and start a new keystore")
        return MasterKeySet(
            generation=self.generation + 1,
            primary_id=new_id,
            keys=(*self.keys, _new_key(new_id, now)),
        )

    def retaining(self, keep: Iterable[int]) -> MasterKeySet:
        """This set without the keys not in ``keep``; the primary must be kept.

        Returns ``self`` when nothing would be dropped, so a repeated retire writes nothing.
        """
        wanted = set(keep)
        unknown = wanted.difference(self.key_ids)
        if unknown:
            raise InvalidInput(f"no master key with id {', '.join(map(str, sorted(unknown)))}")
        if self.primary_id not in wanted:
            raise InvalidInput(
                f"the primary master key {self.primary_id} must be kept; it seals new data"
            )
        if wanted == set(self.key_ids):
            return self
        return MasterKeySet(
            generation=self.generation + 1,
            primary_id=self.primary_id,
            keys=tuple(key for key in self.keys if key.key_id in wanted),
        )


def _new_key(key_id: int, now: datetime | None) -> MasterKey:
    created = (now or datetime.now(UTC)).replace(microsecond=0)
    return MasterKey(key_id=key_id, created_at=created, secret=os.urandom(MASTER_KEY_SIZE))


def _sha256(data: bytes | bytearray | memoryview) -> bytes:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(data)
    return digest.finalize()


def encode_master_key_file(key_set: MasterKeySet) -> bytes:
    """The canonical version-1 file bytes of ``key_set``."""
    parts = [
        _HEADER.pack(_MAGIC, _VERSION, key_set.generation, key_set.primary_id, len(key_set.keys))
    ]
    parts.extend(
        _ENTRY.pack(key.key_id, int(key.created_at.timestamp()), key.secret) for key in key_set.keys
    )
    body = b"".join(parts)
    return body + _sha256(body)


def decode_master_key_file(data: bytes | bytearray | memoryview) -> MasterKeySet:
    """Parse and verify a master key file.

    Raises :class:`KeystoreCorrupt` naming what is wrong (never the key bytes).
    """
    if not data:
        raise KeystoreCorrupt("the file is empty")
    if len(data) < _HEADER.size + _CHECKSUM_SIZE:
        raise KeystoreCorrupt(f"the file is truncated ({len(data)} bytes)")
    magic, version, generation, primary_id, count = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise KeystoreCorrupt("the file is not a certward master key file")
    if version != _VERSION:
        raise KeystoreCorrupt(f"unsupported master key file version {version}")
    expected_size = _HEADER.size + count * _ENTRY.size + _CHECKSUM_SIZE
    if len(data) != expected_size:
        raise KeystoreCorrupt(
            f"the file has {len(data)} bytes where {count} keys need {expected_size}"
        )
    body_end = expected_size - _CHECKSUM_SIZE
    if not hmac.compare_digest(_sha256(data[:body_end]), bytes(data[body_end:])):
        raise KeystoreCorrupt("the checksum does not match (the file is damaged)")
    try:
        keys = tuple(
            MasterKey(
                key_id=key_id,
                created_at=datetime.fromtimestamp(created, UTC),
                secret=secret,
            )
            for key_id, created, secret in _ENTRY.iter_unpack(data[_HEADER.size : body_end])
        )
        return MasterKeySet(generation=generation, primary_id=primary_id, keys=keys)
    except (ValueError, OverflowError, OSError) as exc:
        raise KeystoreCorrupt(f"the key set is inconsistent: {exc}") from None


@dataclass(frozen=True, slots=True)
class _Copy:
    """One of the two files as found on disk: its keys, or why it is unusable."""

    path: Path
    key_set: MasterKeySet | None
    problem: str | None

    @property
    def missing(self) -> bool:
        return self.key_set is None and self.problem == "missing"


def _read_copy(path: Path) -> _Copy:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return _Copy(path, None, "missing")
    except IsADirectoryError:
        return _Copy(path, None, "it is a directory")
    except PermissionError:
        raise FilePermissionError(
            f"{path} is not readable by the current user; chown/chmod 400 it"
        ) from None
    with handle:
        info = os.fstat(handle.fileno())
        _check_private_file(path, info)
        # A bytearray, so the key bytes read from disk can be wiped once parsed.
        buffer = bytearray(min(info.st_size, _MAX_FILE_SIZE) + 1)
        try:
            size = handle.readinto(buffer)
            if size > _MAX_FILE_SIZE:
                return _Copy(path, None, "the file is far too large")
            # A view, not a slice: a slice would be a second copy left unwiped.
            with memoryview(buffer)[:size] as content:
                try:
                    return _Copy(path, decode_master_key_file(content), None)
                except KeystoreCorrupt as exc:
                    return _Copy(path, None, exc.message)
        finally:
            buffer[:] = bytes(len(buffer))


def _check_private_file(path: Path, info: os.stat_result) -> None:
    if info.st_uid != os.geteuid():
        raise FilePermissionError(
            f"{path} belongs to uid {info.st_uid}, not to the current user; chown it first"
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise FilePermissionError(
            f"{path} has mode {stat.S_IMODE(info.st_mode):04o}; run: chmod 400 {path}"
        )


@contextlib.contextmanager
def _locked(keys_dir: Path) -> Iterator[None]:
    # flock on the directory itself: no lock file to leave behind or to get wrong.
    fd = os.open(keys_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_copy(path: Path, key_set: MasterKeySet) -> None:
    write_atomic(path, encode_master_key_file(key_set), mode=READONLY_SECRET_MODE)


def _write_both(keys_dir: Path, key_set: MasterKeySet) -> None:
    # Standby first: until the primary is replaced too, the standby carries the
    # higher generation and wins on the next load (see the module docstring).
    _write_copy(keys_dir / STANDBY_FILE_NAME, key_set)
    _write_copy(keys_dir / PRIMARY_FILE_NAME, key_set)


def _same_content(first: MasterKeySet, second: MasterKeySet) -> bool:
    return hmac.compare_digest(encode_master_key_file(first), encode_master_key_file(second))


def _reconcile(keys_dir: Path, *, create: bool) -> MasterKeySet:
    primary = _read_copy(keys_dir / PRIMARY_FILE_NAME)
    standby = _read_copy(keys_dir / STANDBY_FILE_NAME)
    copies = (primary, standby)
    good = [(copy, copy.key_set) for copy in copies if copy.key_set is not None]
    if not good:
        if primary.missing and standby.missing:
            if not create:
                raise KeystoreMissing(
                    f"both master key files {PRIMARY_FILE_NAME} and {STANDBY_FILE_NAME} are "
                    f"gone from {keys_dir} while encrypted data exists; restore a backup of "
                    "keys/ (new keys would not open the existing data)"
                )
            key_set = MasterKeySet.generate()
            _write_both(keys_dir, key_set)
            _log.info("keystore.created", keys_dir=str(keys_dir), key_id=key_set.primary_id)
            return key_set
        raise KeystoreCorrupt(
            f"both master key files in {keys_dir} are unusable "
            f"({PRIMARY_FILE_NAME}: {primary.problem}; {STANDBY_FILE_NAME}: {standby.problem}); "
            "restore a backup of keys/"
        )
    source, winning = max(good, key=lambda pair: pair[1].generation)
    for copy in copies:
        if copy.key_set is None:
            reason = copy.problem
        elif _same_content(copy.key_set, winning):
            continue
        elif copy.key_set.generation == winning.generation:
            # Never produced by certward's own locked writes; picking one could
            # drop a key that sealed data, so a human must decide.
            raise KeystoreCorrupt(
                f"{PRIMARY_FILE_NAME} and {STANDBY_FILE_NAME} in {keys_dir} hold different keys "
                f"under the same generation {winning.generation}; restore a backup of keys/"
            )
        else:
            reason = f"older generation {copy.key_set.generation}"
        _write_copy(copy.path, winning)
        _log.warning(
            "keystore.file_restored",
            file=str(copy.path),
            source=str(source.path),
            reason=reason,
            generation=winning.generation,
        )
    return winning


def load_master_keys(keys_dir: Path, *, create: bool) -> MasterKeySet:
    """Read the master keys from ``keys_dir``, repairing one damaged copy from the other.

    Args:
        keys_dir: the ``keys/`` directory; created 0700 if absent, refused if wider.
        create: generate new keys when both files are absent. Pass ``False``
            whenever encrypted data already exists: then both files missing is
            :class:`KeystoreMissing`, never a silent new key.
    """
    keys_dir = ensure_private_dir(Path(keys_dir))
    with _locked(keys_dir):
        return _reconcile(keys_dir, create=create)


def update_master_keys(
    keys_dir: Path, change: Callable[[MasterKeySet], MasterKeySet]
) -> MasterKeySet:
    """Apply ``change`` to the keys on disk and write both files (standby, then primary).

    The set is re-read under the directory lock, so a change made meanwhile by
    another process is built upon, not lost. Nothing is written when ``change``
    returns the set unchanged.
    """
    keys_dir = ensure_private_dir(Path(keys_dir))
    with _locked(keys_dir):
        current = _reconcile(keys_dir, create=False)
        updated = change(current)
        if updated is not current:
            _write_both(keys_dir, updated)
        return updated
