"""Files for ``certward import``: owner/mode checks on the inputs, and an all-or-nothing commit.

certImport (seed 000) copied files one by one, so a failure half-way left copied
files behind. Here every new file is first written in full under a temporary
name next to its destination (or, for a target directory that does not exist
yet, into a staging directory renamed into place at the end); only then are the
displaced files moved to a backup and the staged files renamed over. Any error
before or during that undoes what was done, in reverse order, so a refused or
failed import leaves the filesystem as it found it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from certward.errors import FilePermissionError, InvalidInput
from certward.files import PRIVATE_DIR_MODE, SECRET_FILE_MODE, fsync_dir

__all__ = [
    "KEY_FILE_MAX_MODE",
    "MAX_INPUT_SIZE",
    "FileTransaction",
    "PlannedFile",
    "check_owned_regular_file",
    "check_target_directory",
    "read_owned_file",
]

# Seed 000: "The permission on the imported private key file cannot be greater than 640."
KEY_FILE_MAX_MODE = 0o640
# Certificates, keys and CRLs of a service: far below this; bounds what a wrong path costs.
MAX_INPUT_SIZE = 16 << 20
_TEMP_TAG = ".certward-import-"


def _user_name(uid: int) -> str | None:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return None


def _describe_owner(uid: int) -> str:
    name = _user_name(uid)
    return f"{name} (uid {uid})" if name else f"uid {uid}"


def _check_owner(path: Path, info: os.stat_result, what: str) -> None:
    me = os.geteuid()
    if info.st_uid != me:
        raise FilePermissionError(
            f"{what} {path} belongs to {_describe_owner(info.st_uid)}, not to the current user "
            f"{_describe_owner(me)}; run: chown {_user_name(me) or me} {path}"
        )


def _check_mode(path: Path, info: os.stat_result, what: str, max_mode: int) -> None:
    mode = stat.S_IMODE(info.st_mode)
    if mode & ~max_mode:
        raise FilePermissionError(
            f"{what} {path} has mode {mode:04o}, more permissive than {max_mode:04o}; "
            f"run: chmod 400 {path}"
        )


def read_owned_file(path: Path, *, what: str, max_mode: int | None = None) -> bytes:
    """The bytes of ``path`` after checking it is a regular file of the current user.

    The checks run on the opened file (``fstat``), so the file read is the file checked.
    ``max_mode``: permission bits the file may have at most (the key: 0640).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise InvalidInput(f"{what} {path} does not exist") from None
    except PermissionError:
        raise FilePermissionError(f"{what} {path} is not readable by the current user") from None
    except OSError as exc:
        raise InvalidInput(f"{what} {path} cannot be opened ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise InvalidInput(f"{what} {path} is not a regular file")
        _check_owner(path, info, what)
        if max_mode is not None:
            _check_mode(path, info, what, max_mode)
        data = handle.read(MAX_INPUT_SIZE + 1)
    if len(data) > MAX_INPUT_SIZE:
        raise InvalidInput(f"{what} {path} is larger than {MAX_INPUT_SIZE} bytes")
    return data


def check_owned_regular_file(path: Path, *, what: str) -> bool:
    """Whether ``path`` exists; if it does, it must be a regular file of the current user."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(info.st_mode):
        raise InvalidInput(f"{what} {path} is a symbolic link; give the file it points to")
    if not stat.S_ISREG(info.st_mode):
        raise InvalidInput(f"{what} {path} is not a regular file")
    _check_owner(path, info, what)
    return True


def check_target_directory(directory: Path) -> bool:
    """Whether the target directory exists; if so it must be ours and 0700 (seed 000).

    When it does not exist its parent must, so the import creates exactly one directory.
    """
    try:
        info = directory.lstat()
    except FileNotFoundError:
        if not directory.parent.is_dir():
            raise InvalidInput(
                f"the parent of the target directory {directory} does not exist; create it first"
            ) from None
        return False
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise InvalidInput(f"the target {directory} exists and is not a directory")
    _check_owner(directory, info, "the target directory")
    mode = stat.S_IMODE(info.st_mode)
    if mode != PRIVATE_DIR_MODE:
        raise FilePermissionError(
            f"the target directory {directory} has mode {mode:04o}, not 0700; "
            f"run: chmod 700 {directory}"
        )
    return True


@dataclass(frozen=True)
class PlannedFile:
    """A file the import writes: its final path, content and permission bits."""

    path: Path
    data: bytes = field(repr=False)
    mode: int


def _write_new(path: Path, data: bytes, mode: int) -> None:
    # Created 0600 (never wider while it holds data), then given its final mode.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(path, mode)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        raise


def _temp_name(path: Path, role: str) -> Path:
    return path.parent / f".{path.name}{_TEMP_TAG}{role}-{os.getpid()}-{os.urandom(4).hex()}"


class FileTransaction:
    """Stage files, then move displaced ones to a backup and rename the staged ones in.

    Use as a context manager: leaving the block by an exception (or without
    :meth:`commit`) undoes every step already done, newest first.
    """

    def __init__(self, target: Path, *, target_exists: bool) -> None:
        """``target`` is the directory the import fills; created at commit when it is absent."""
        self._target = target
        self._target_exists = target_exists
        self._staging_dir: Path | None = None
        self._staged: list[tuple[Path, Path]] = []  # (temporary, final)
        self._undo: list[Callable[[], None]] = []
        self._to_unlink_on_success: list[Path] = []
        self._committed = False

    def __enter__(self) -> FileTransaction:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self._committed:
            self._roll_back()

    def _roll_back(self) -> None:
        for undo in reversed(self._undo):
            with contextlib.suppress(OSError):
                undo()
        self._undo.clear()
        for temporary, _ in self._staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
        if self._staging_dir is not None:
            with contextlib.suppress(OSError):
                os.rmdir(self._staging_dir)

    def stage(self, files: Sequence[PlannedFile]) -> None:
        """Write every file in full under a temporary name (nothing visible changes yet)."""
        for planned in files:
            directory = planned.path.parent
            if directory == self._target and not self._target_exists:
                if self._staging_dir is None:
                    self._staging_dir = _temp_name(self._target, "dir")
                    os.mkdir(self._staging_dir, PRIVATE_DIR_MODE)
                    os.chmod(self._staging_dir, PRIVATE_DIR_MODE)
                temporary = self._staging_dir / planned.path.name
                _write_new(temporary, planned.data, planned.mode)
                # Renamed with the staging directory; nothing to rename one by one.
                self._staged.append((temporary, planned.path))
                continue
            temporary = _temp_name(planned.path, "new")
            self._staged.append((temporary, planned.path))
            _write_new(temporary, planned.data, planned.mode)

    def _move(self, source: Path, destination: Path) -> None:
        os.rename(source, destination)
        self._undo.append(lambda: os.rename(destination, source))

    def commit(
        self,
        *,
        displaced: Sequence[Path] = (),
        backup_dir: Path | None = None,
        backup_extra: Sequence[PlannedFile] = (),
    ) -> None:
        """Make the staged files visible.

        ``displaced`` files are moved into ``backup_dir`` first (created 0700),
        together with copies ``backup_extra`` (e.g. the config as it was).
        """
        directories: set[Path] = set()
        if displaced:
            assert backup_dir is not None, "displaced files need a backup directory"
            os.mkdir(backup_dir, PRIVATE_DIR_MODE)
            os.chmod(backup_dir, PRIVATE_DIR_MODE)
            self._undo.append(lambda: os.rmdir(backup_dir))
            for path in displaced:
                self._move(path, backup_dir / path.name)
            for extra in backup_extra:
                _write_new(extra.path, extra.data, extra.mode)
                self._undo.append(functools.partial(os.unlink, extra.path))
            directories.add(backup_dir)
        if self._staging_dir is not None:
            self._move(self._staging_dir, self._target)
            directories.add(self._target.parent)
        for temporary, final in self._staged:
            if self._staging_dir is not None and temporary.parent == self._staging_dir:
                continue
            if final.exists():
                # An existing file we rewrite (the config, a master key copy): keep it
                # under a temporary name until the end, so a later failure can put it back.
                kept = _temp_name(final, "old")
                self._move(final, kept)
                self._to_unlink_on_success.append(kept)
            self._move(temporary, final)
            directories.add(final.parent)
        for directory in directories:
            fsync_dir(directory)
        self._committed = True
        for kept in self._to_unlink_on_success:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(kept)
