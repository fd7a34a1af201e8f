"""Durable, atomic file writes with explicit modes.

Every file certward publishes is written to a temporary name in the same
directory, flushed to disk, given its final mode and renamed into place, and
the directory is synced: a reader sees the old file or the new one, never a
mix, and a crash after the call returns loses nothing.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from certward.errors import FilePermissionError

__all__ = [
    "PRIVATE_DIR_MODE",
    "PUBLIC_FILE_MODE",
    "READONLY_SECRET_MODE",
    "SECRET_FILE_MODE",
    "check_private_key_file",
    "ensure_private_dir",
    "fsync_dir",
    "write_atomic",
]

SECRET_FILE_MODE = 0o600
READONLY_SECRET_MODE = 0o400
PUBLIC_FILE_MODE = 0o644
PRIVATE_DIR_MODE = 0o700


def fsync_dir(directory: Path) -> None:
    """Flush a directory entry change (create, rename, unlink) to disk."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, mode: int = PUBLIC_FILE_MODE) -> None:
    """Write ``data`` to ``path`` atomically and durably with permission bits ``mode``.

    The temporary file is created with ``mode`` already restricted (never wider
    than 0600 while it holds data), so a secret is never readable by others,
    not even for a moment.
    """
    path = Path(path)
    directory = path.parent
    tmp = directory / f".{path.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def ensure_private_dir(directory: Path) -> Path:
    """Create ``directory`` (and parents) as 0700 if absent; refuse one that others can enter.

    An existing directory must belong to the current user; a mode wider than
    0700 is an error naming the directory and the fix, never silently changed.
    """
    directory = Path(directory)
    if not directory.exists():
        directory.mkdir(parents=True, mode=PRIVATE_DIR_MODE)
        os.chmod(directory, PRIVATE_DIR_MODE)
        return directory
    info = directory.stat()
    if not stat.S_ISDIR(info.st_mode):
        raise FilePermissionError(f"{directory} exists and is not a directory")
    if info.st_uid != os.geteuid():
        raise FilePermissionError(
            f"{directory} belongs to uid {info.st_uid}, not to the current user; chown it first"
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise FilePermissionError(
            f"{directory} has mode {stat.S_IMODE(info.st_mode):04o}; run: chmod 700 {directory}"
        )
    return directory


def check_private_key_file(path: Path) -> None:
    """Refuse a private key file that other users can read or write (FilePermissionError).

    A missing file is left to the caller (its own "cannot read" message).
    """
    try:
        info = Path(path).stat()
    except OSError:
        return
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise FilePermissionError(
            f"private key file {path} has mode {mode:04o}: others can read it; "
            f"run: chmod 600 {path}"
        )
