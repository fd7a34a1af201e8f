"""Atomic, durable file writes with explicit modes, and private directories."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from certward.errors import FilePermissionError
from certward.files import ensure_private_dir, write_atomic


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- write_atomic ---------------------------------------------------------------------------


def test_write_atomic_writes_the_bytes(tmp_path: Path) -> None:
    target = tmp_path / "out.pem"

    write_atomic(target, b"content")

    assert target.read_bytes() == b"content"


@pytest.mark.parametrize("mode", [0o400, 0o600, 0o644])
def test_write_atomic_applies_the_mode(tmp_path: Path, mode: int) -> None:
    target = tmp_path / "out"

    write_atomic(target, b"x", mode=mode)

    assert _mode(target) == mode


def test_write_atomic_defaults_to_a_public_file(tmp_path: Path) -> None:
    target = tmp_path / "out"

    write_atomic(target, b"x")

    assert _mode(target) == 0o644


def test_write_atomic_replaces_an_existing_file_and_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.write_bytes(b"old content that is longer")
    target.chmod(0o666)

    write_atomic(target, b"new", mode=0o600)

    assert target.read_bytes() == b"new"
    assert _mode(target) == 0o600


def test_write_atomic_leaves_no_temporary_file(tmp_path: Path) -> None:
    write_atomic(tmp_path / "out", b"x")

    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_failed_write_leaves_no_temporary_file_and_the_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "busy"
    target.mkdir()
    (target / "inside").write_bytes(b"keep")

    with pytest.raises(OSError):
        write_atomic(target, b"x")

    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy"]
    assert (target / "inside").read_bytes() == b"keep"


def test_write_of_a_non_bytes_value_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.write_bytes(b"old")

    with pytest.raises(TypeError):
        write_atomic(target, "text, not bytes")  # type: ignore[arg-type]

    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert target.read_bytes() == b"old"


def test_write_into_a_missing_directory_fails_cleanly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "missing" / "out", b"x")

    assert list(tmp_path.iterdir()) == []


# --- ensure_private_dir ---------------------------------------------------------------------


def test_ensure_private_dir_creates_a_0700_directory_with_parents(tmp_path: Path) -> None:
    directory = tmp_path / "a" / "b"
    previous = os.umask(0)
    try:
        ensure_private_dir(directory)
    finally:
        os.umask(previous)

    assert directory.is_dir()
    assert _mode(directory) == 0o700


def test_ensure_private_dir_accepts_an_existing_private_directory(tmp_path: Path) -> None:
    directory = tmp_path / "private"
    directory.mkdir(mode=0o700)

    assert ensure_private_dir(directory) == directory
    assert _mode(directory) == 0o700


@pytest.mark.parametrize("mode", [0o755, 0o750, 0o701, 0o777])
def test_ensure_private_dir_refuses_a_directory_others_can_enter(tmp_path: Path, mode: int) -> None:
    directory = tmp_path / "open"
    directory.mkdir()
    directory.chmod(mode)

    with pytest.raises(FilePermissionError, match="chmod 700"):
        ensure_private_dir(directory)

    assert _mode(directory) == mode


def test_ensure_private_dir_refuses_a_file(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(b"")

    with pytest.raises(FilePermissionError, match="not a directory"):
        ensure_private_dir(path)


def test_a_full_disk_leaves_the_old_file_in_place_and_no_temporary_file(tmp_path: Path) -> None:
    # A real ENOSPC-like failure: the writing process may not grow a file past 4 KiB
    # (RLIMIT_FSIZE makes write() fail with EFBIG, as a full disk fails with ENOSPC).
    target = tmp_path / "crl.der"
    target.write_bytes(b"old CRL")
    script = (
        "import resource, signal, sys\n"
        "from pathlib import Path\n"
        "from certward.files import write_atomic\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "try:\n"
        "    write_atomic(Path(sys.argv[1]), b'x' * 65536)\n"
        "except OSError as exc:\n"
        "    print(exc.errno)\n"
        "    sys.exit(3)\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", script, str(target)], capture_output=True, text=True, check=False
    )

    assert result.returncode == 3, result.stderr
    assert int(result.stdout) == errno.EFBIG
    assert target.read_bytes() == b"old CRL"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["crl.der"]
