"""A slot's directory: the files its records call for, and swapping them in with a way back.

The files are a pure function of the slot's rows (the database is the truth):
server and client slots hold ``cert_file`` (certificate, then chain) and
``key_file`` (PKCS#8 PEM); authority slots hold ``<id>.pem`` per certificate with
``<subject-hash>.N`` symlinks to it, or, as a lookup hash directory, the
certificates themselves as ``<subject-hash>.N`` and CRLs as ``<issuer-hash>.rN``.

Every file is staged under a temporary name, given its mode and owner, synced
and renamed into place. :func:`publish_slot_files` returns a snapshot of what
it replaced, so a failed reload puts the previous files back byte for byte.
Files the slot does not manage are never touched.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from certward.certs.slots import SlotKind, SlotSpec
from certward.errors import FilePermissionError
from certward.files import fsync_dir

__all__ = [
    "DirectorySnapshot",
    "SlotFile",
    "is_managed_name",
    "publish_slot_files",
    "read_slot_files",
    "remove_stale_temporaries",
]

_HASH_NAME = re.compile(r"[0-9a-f]{8}\.r?(0|[1-9][0-9]*)")
_ID_NAME = re.compile(r"[0-9a-f]{16}\.pem")
_TEMPORARY = re.compile(r"\.certward-.*\.tmp")


@dataclass(frozen=True)
class SlotFile:
    """One directory entry: a regular file (``data``, ``mode``) or a symlink (``link_to``)."""

    data: bytes = b""
    mode: int = 0o400
    link_to: str | None = None


def is_managed_name(spec: SlotSpec, name: str) -> bool:
    """True for the names this slot owns in its directory."""
    if spec.kind is SlotKind.AUTHORITY:
        return bool(_HASH_NAME.fullmatch(name) or _ID_NAME.fullmatch(name))
    return name in (spec.cert_file, spec.key_file)


def read_slot_files(spec: SlotSpec) -> dict[str, SlotFile]:
    """The managed entries now in the slot's directory (empty if it does not exist)."""
    found: dict[str, SlotFile] = {}
    try:
        names = sorted(os.listdir(spec.directory))
    except FileNotFoundError:
        return found
    for name in names:
        if not is_managed_name(spec, name):
            continue
        path = spec.directory / name
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            found[name] = SlotFile(link_to=os.readlink(path))
        elif stat.S_ISREG(info.st_mode):
            found[name] = SlotFile(data=path.read_bytes(), mode=stat.S_IMODE(info.st_mode))
    return found


@dataclass(frozen=True)
class DirectorySnapshot:
    """The managed entries of a slot's directory before a publish, to put back on failure."""

    spec: SlotSpec
    before: Mapping[str, SlotFile]
    changed: bool

    def restore(self) -> None:
        """Put the directory back as it was (best effort per entry, all entries tried)."""
        if not self.changed:
            return
        _apply(self.spec, self.before, _owner_ids(self.spec))


def publish_slot_files(spec: SlotSpec, files: Mapping[str, SlotFile]) -> DirectorySnapshot:
    """Make the slot's directory hold exactly ``files`` among its managed names.

    Creates the directory (``mode_dir``, ``owner``) when absent. Returns the
    snapshot of the entries before; ``changed`` is False when nothing differed.
    """
    owner = _owner_ids(spec)
    _ensure_directory(spec, owner)
    before = read_slot_files(spec)
    changed = dict(before) != dict(files)
    if changed:
        _apply(spec, files, owner)
    return DirectorySnapshot(spec=spec, before=before, changed=changed)


def remove_stale_temporaries(spec: SlotSpec) -> int:
    """Remove staging files a crash left in the slot's directory; returns how many."""
    removed = 0
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(spec.directory):
            if _TEMPORARY.fullmatch(name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(spec.directory / name)
                    removed += 1
    return removed


def _apply(spec: SlotSpec, files: Mapping[str, SlotFile], owner: tuple[int, int] | None) -> None:
    directory = spec.directory
    current = read_slot_files(spec)
    # New and changed entries first, then removals: a reader never misses a file it needs.
    for name, wanted in files.items():
        if current.get(name) != wanted:
            _stage_and_rename(directory, name, wanted, owner)
    for name in _stale(current, files):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(directory / name)
    fsync_dir(directory)


def _stale(current: Iterable[str], wanted: Mapping[str, SlotFile]) -> list[str]:
    return [name for name in current if name not in wanted]


def _stage_and_rename(
    directory: Path, name: str, wanted: SlotFile, owner: tuple[int, int] | None
) -> None:
    tmp = directory / f".certward-{name}-{os.urandom(4).hex()}.tmp"
    try:
        if wanted.link_to is not None:
            os.symlink(wanted.link_to, tmp)
            if owner is not None:
                os.lchown(tmp, *owner)
        else:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(wanted.data)
                handle.flush()
                if owner is not None:
                    os.fchown(handle.fileno(), *owner)
                os.fchmod(handle.fileno(), wanted.mode)
                os.fsync(handle.fileno())
        os.replace(tmp, directory / name)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _ensure_directory(spec: SlotSpec, owner: tuple[int, int] | None) -> None:
    directory = spec.directory
    if not directory.exists():
        directory.mkdir(parents=True, mode=0o700)
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise FilePermissionError(f"{directory} exists and is not a directory")
    if info.st_uid != os.geteuid() and os.geteuid() != 0:
        raise FilePermissionError(
            f"{directory} belongs to uid {info.st_uid}, not to the user running certward"
        )
    if owner is not None and (info.st_uid, info.st_gid) != owner:
        os.chown(directory, *owner)
    if stat.S_IMODE(info.st_mode) != spec.mode_dir:
        os.chmod(directory, spec.mode_dir)


def _owner_ids(spec: SlotSpec) -> tuple[int, int] | None:
    """The (uid, gid) of ``owner`` ("user" or "user:group"); refused early if we cannot chown."""
    if spec.owner is None:
        return None
    user, _, group = spec.owner.partition(":")
    try:
        entry = pwd.getpwnam(user)
        gid = grp.getgrnam(group).gr_gid if group else entry.pw_gid
    except KeyError:
        raise FilePermissionError(f"slot {spec.name}: no user or group {spec.owner!r}") from None
    if os.geteuid() != 0 and entry.pw_uid != os.geteuid():
        raise FilePermissionError(
            f"slot {spec.name}: only root can give files to {user!r}; run certward as root "
            "or drop 'owner'"
        )
    return entry.pw_uid, gid
