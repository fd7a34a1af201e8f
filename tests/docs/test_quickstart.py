"""docs/quickstart.md runs as written: its ``sh`` blocks, in order, in one bash shell.

A ``text`` block right after an ``sh`` block is that block's expected output:
each of its lines must appear in what the block printed. The doc reads
``$WORK``, ``$CERTWARD_PORT`` and ``$NGINX_PORT`` (with defaults for people);
the test points them at a temporary directory and free ports.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.interop.openssl_processes import free_port

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "docs" / "quickstart.md"
NGINX_DIRS = ("/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin")
SCRIPT_TIMEOUT = 240
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\s*$", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Step:
    """One ``sh`` block and the lines it must print."""

    number: int
    commands: str
    expected: tuple[str, ...]


def quickstart_steps(markdown: str) -> list[Step]:
    """The ``sh`` blocks of ``markdown``, each with the ``text`` block that follows it."""
    steps: list[Step] = []
    previous_end = 0
    for match in _FENCE.finditer(markdown):
        language, body = match.group(1), match.group(2)
        between = markdown[previous_end : match.start()]
        previous_end = match.end()
        if language == "sh":
            steps.append(Step(len(steps) + 1, body, ()))
        elif language == "text" and steps and not between.strip() and not steps[-1].expected:
            lines = tuple(line.strip() for line in body.splitlines() if line.strip())
            last = steps[-1]
            steps[-1] = Step(last.number, last.commands, lines)
    return steps


def _marker(number: int) -> str:
    return f"@@quickstart-step-{number}@@"


def _script(steps: list[Step]) -> str:
    parts = ["set -euo pipefail"]
    for step in steps:
        parts.append(f"echo '{_marker(step.number)}'")
        parts.append(step.commands)
    parts.append(f"echo '{_marker(0)}'")
    return "\n".join(parts) + "\n"


def _outputs(printed: str, steps: list[Step]) -> dict[int, str]:
    outputs: dict[int, str] = {}
    for step in steps:
        start = printed.find(_marker(step.number))
        if start < 0:
            continue
        start += len(_marker(step.number))
        ends = [printed.find(_marker(other.number), start) for other in steps] + [
            printed.find(_marker(0), start)
        ]
        end = min((e for e in ends if e >= 0), default=len(printed))
        outputs[step.number] = printed[start:end]
    return outputs


def _environment(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([venv_bin, env.get("PATH", ""), *NGINX_DIRS])
    env["WORK"] = str(work)
    env["CERTWARD_PORT"] = str(free_port())
    env["NGINX_PORT"] = str(free_port())
    for name in list(env):
        if name.startswith("CERTWARD_") and name != "CERTWARD_PORT":
            del env[name]  # a developer's CERTWARD_DATA_DIR etc. must not leak in
    return env


def _stop(pid_file: Path) -> None:
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        return


def _shell_failure(printed: str, work: Path) -> str:
    logs = []
    for log in ("certward.log", "nginx/error.log", "nginx/stdout.log"):
        path = work / log
        if path.exists():
            logs.append(f"--- {log} ---\n{path.read_text(errors='replace')[-3000:]}")
    return printed[-6000:] + "\n" + "\n".join(logs)


def test_quickstart_has_steps_and_expected_output() -> None:
    steps = quickstart_steps(QUICKSTART.read_text(encoding="utf-8"))

    assert len(steps) >= 8
    assert sum(1 for step in steps if step.expected) >= 5


@pytest.mark.interop
def test_quickstart_runs_from_zero_to_revoked_client(tmp_path: Path) -> None:
    steps = quickstart_steps(QUICKSTART.read_text(encoding="utf-8"))
    work = tmp_path / "work"
    log_path = tmp_path / "quickstart.out"
    env = _environment(work)
    shell = None
    try:
        with log_path.open("wb") as log:
            # Output goes to a file: the servers the doc starts keep inherited pipes open.
            shell = subprocess.Popen(
                ["bash", "-c", _script(steps)],
                cwd=tmp_path,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            status = shell.wait(timeout=SCRIPT_TIMEOUT)
        printed = log_path.read_text(errors="replace")

        assert status == 0, _shell_failure(printed, work)
        outputs = _outputs(printed, steps)
        for step in steps:
            for line in step.expected:
                assert line in outputs.get(step.number, ""), (
                    f"step {step.number} did not print {line!r}:\n"
                    f"{outputs.get(step.number, '(no output)')}"
                )
    finally:
        _stop(work / "nginx" / "nginx.pid")
        _stop(work / "certward.pid")
        if shell is not None:
            if shell.poll() is None:
                shell.kill()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(shell.pid, signal.SIGKILL)  # anything the doc left running
