"""Drive the real ``certward`` console script in a subprocess, the way a user does.

``Certward(data_dir)`` is the trustme-like handle the CLI and interop tests share:
``certward.run("ca", "list")`` returns the finished process, ``certward.json(...)``
the parsed ``--json`` output, and ``snapshot`` records everything a command could
have changed so a refused command can be shown to have changed nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CERTWARD",
    "ISSUING_SUBJECT",
    "ROOT_SUBJECT",
    "Certward",
    "build_pki",
    "run_certward",
    "shared_pki",
    "snapshot",
]

COMMAND_TIMEOUT = 60
ROOT_SUBJECT = "/CN=certward CLI test root/O=certward tests"
ISSUING_SUBJECT = "/CN=certward CLI test issuing/O=certward tests"


def _certward_script() -> Path:
    # The console script installed next to the interpreter running the tests (.venv/bin).
    beside = Path(sys.executable).parent / "certward"
    if beside.exists():
        return beside
    found = shutil.which("certward")
    assert found is not None, "the certward console script is not installed (pip install -e .)"
    return Path(found)


CERTWARD = _certward_script()


def _clean_environment() -> dict[str, str]:
    # Settings from the caller's environment (CERTWARD_LOG_LEVEL, ...) must not leak in.
    return {key: value for key, value in os.environ.items() if not key.startswith("CERTWARD_")}


def run_certward(
    *args: str | Path, data_dir: Path, check: bool = True, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``certward --data-dir DATA_DIR ARGS...``; with ``check``, fail the test on exit ≠ 0."""
    command = [str(CERTWARD), "--data-dir", str(data_dir), *(str(arg) for arg in args)]
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        env=_clean_environment(),
        cwd=cwd,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command[1:])} exited {result.returncode}\n"
            f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


@dataclass(frozen=True)
class Certward:
    """One certward data dir, driven through the real command."""

    data_dir: Path

    def run(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a certward command on this data dir."""
        return run_certward(*args, data_dir=self.data_dir, check=check)

    def json(self, *args: str | Path) -> Any:
        """Run a command with ``--json`` (which must succeed) and parse its stdout."""
        return json.loads(self.run(*args, "--json").stdout)

    def copy(self, target: Path) -> Certward:
        """A copy of this data dir at ``target`` (for a test that changes it)."""
        # The -shm index is rebuilt from the -wal on open; a copied one could only be stale.
        shutil.copytree(self.data_dir, target, ignore=shutil.ignore_patterns("*-shm"))
        return Certward(target)

    def issue(
        self, common_name: str, *, out: Path, profile: str = "client", extra: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        """``cert issue`` from the issuing CA into ``out``; the parsed ``--json`` result."""
        result: dict[str, Any] = self.json(
            "cert", "issue", "--ca", "issuing", "--profile", profile,
            "--cn", common_name, "--out", out, *extra,
        )  # fmt: skip
        return result


def build_pki(data_dir: Path) -> Certward:
    """An initialised data dir with a root CA ``root`` and an intermediate ``issuing`` under it."""
    certward = Certward(data_dir)
    certward.run("init")
    certward.run("ca", "create", "root", "--subject", ROOT_SUBJECT)
    certward.run("ca", "create", "issuing", "--subject", ISSUING_SUBJECT, "--parent", "root")
    return certward


_SHARED: dict[Path, Certward] = {}


def shared_pki(tmp_path_factory: Any) -> Certward:
    """The ``build_pki`` data dir of this test session (this xdist worker), built on first use.

    Shared by the CLI and interop fixtures; callers copy it before changing anything.
    """
    base = tmp_path_factory.getbasetemp()
    if base not in _SHARED:
        _SHARED[base] = build_pki(tmp_path_factory.mktemp("pki-template") / "data")
    return _SHARED[base]


def _database_rows(path: Path) -> str:
    # A logical dump: a checkpoint moving pages from the -wal into the file is no change.
    connection = sqlite3.connect(path)
    try:
        return "\n".join(connection.iterdump())
    finally:
        connection.close()


def snapshot(root: Path) -> dict[str, str]:
    """Every directory and file under ``root``: files by SHA-256, SQLite databases by their rows.

    SQLite's ``-wal`` and ``-shm`` journals are skipped; their content is in the rows.
    """
    state: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.name.endswith(("-wal", "-shm", "-journal")):
            continue
        if path.is_dir():
            state[name] = "directory"
        elif path.suffix == ".db":
            state[name] = _database_rows(path)
        else:
            state[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state
