"""docs/guides/*.md run as written: their ``sh`` blocks, in order, in one bash shell.

Same rules as the quickstart (``tests/docs/test_quickstart.py``): a ``text``
block right after an ``sh`` block lists lines that block must print; ``console``
blocks are for reading only. ``$WORK`` points at a temporary directory and
``$CERTWARD_PORT``/``$NGINX_PORT``/``$PEER_PORT`` at free ports. Whatever a guide
starts in the background is stopped afterwards (its whole process group).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.docs.test_quickstart import ROOT, _environment, _outputs, _script, quickstart_steps
from tests.interop.openssl_processes import free_port

GUIDES = ROOT / "docs" / "guides"
SCRIPT_TIMEOUT = 240
# Each guide and the least number of steps with expected output it must have.
EXECUTED = {
    "replacing-certimport.md": 8,
    "mtls-peers-hashdir.md": 5,
    "redfish-certificates.md": 6,
}


def _run_guide(name: str, tmp_path: Path) -> None:
    steps = quickstart_steps((GUIDES / name).read_text(encoding="utf-8"))
    assert sum(1 for step in steps if step.expected) >= EXECUTED[name]
    work = tmp_path / "work"
    env = _environment(work)
    env["PEER_PORT"] = str(free_port())
    log_path = tmp_path / "guide.out"
    shell = None
    try:
        with log_path.open("wb") as log:
            # Output goes to a file: servers a guide starts keep inherited pipes open.
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
        assert status == 0, printed[-6000:]
        outputs = _outputs(printed, steps)
        for step in steps:
            for line in step.expected:
                seen = outputs.get(step.number, "")
                assert line in seen, f"step {step.number} did not print {line!r}:\n{seen}"
    finally:
        if shell is not None:
            if shell.poll() is None:
                shell.kill()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(shell.pid, signal.SIGKILL)  # anything the guide left running


def test_every_guide_is_executed_or_says_why_not() -> None:
    present = {path.name for path in GUIDES.glob("*.md")}

    assert set(EXECUTED) <= present


def test_replacing_certimport_guide_runs(tmp_path: Path) -> None:
    _run_guide("replacing-certimport.md", tmp_path)


@pytest.mark.interop
def test_mtls_peers_hash_directory_guide_runs(tmp_path: Path) -> None:
    _run_guide("mtls-peers-hashdir.md", tmp_path)


@pytest.mark.interop
def test_redfish_certificates_guide_runs(tmp_path: Path) -> None:
    _run_guide("redfish-certificates.md", tmp_path)
