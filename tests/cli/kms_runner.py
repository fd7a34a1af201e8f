"""``certward kms ...`` run the way a user runs it: on a data dir, or through ``--server``.

``Kms`` is the handle the CLI and interop tests share: ``kms.run("create-key", ...)``
returns the finished process, ``kms.json(...)`` the parsed ``--json`` output,
``kms.key(spec, usage)`` makes a key and answers its id. The same test body runs
in both modes (``kms.mode`` says which).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.cli.runner import CERTWARD, COMMAND_TIMEOUT, _clean_environment, run_certward

__all__ = ["Kms", "assert_one_line_error"]


@dataclass(frozen=True)
class Kms:
    """``certward [--server ...] kms`` on one data dir (remote: a dir that does not exist)."""

    mode: str
    data_dir: Path
    options: tuple[str, ...] = ()

    def run(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``certward [options] kms ARGS...``."""
        return run_certward(*self.options, "kms", *args, data_dir=self.data_dir, check=check)

    def json(self, *args: str | Path) -> Any:
        """Run a command with ``--json`` (which must succeed) and parse its stdout."""
        return json.loads(self.run(*args, "--json").stdout)

    def run_binary(
        self, *args: str | Path, stdin: bytes = b"", check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        """Run a command with binary stdin and stdout."""
        command = [str(CERTWARD), "--data-dir", str(self.data_dir), *self.options, "kms"]
        result = subprocess.run(
            [*command, *(str(arg) for arg in args)],
            input=stdin,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
            env=_clean_environment(),
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kms {args} exited {result.returncode}: {result.stderr!r}")
        return result

    def key(self, spec: str, usage: str, *extra: str) -> str:
        """Create a key; its id (what create-key prints)."""
        key_id = self.run("create-key", "--spec", spec, "--usage", usage, *extra).stdout.strip()
        assert key_id.startswith("key-"), key_id
        return key_id


def assert_one_line_error(
    result: subprocess.CompletedProcess[str], code: str, exit_code: int | None = None
) -> None:
    """A refusal: non-zero exit, nothing on stdout, one ``error: ... [code]`` line on stderr."""
    assert result.returncode != 0, result.stdout
    if exit_code is not None:
        assert result.returncode == exit_code, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    assert f"[{code}]" in result.stderr, result.stderr
