"""docs/operations.md runs as written: its ``sh`` blocks, in order, in one bash shell."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.docs.test_quickstart import ROOT, _environment, _outputs, _script, quickstart_steps

OPERATIONS = ROOT / "docs" / "operations.md"
SCRIPT_TIMEOUT = 180


def test_the_operations_walk_through_runs_and_prints_what_it_says(tmp_path: Path) -> None:
    steps = quickstart_steps(OPERATIONS.read_text(encoding="utf-8"))
    assert len(steps) >= 7
    work = tmp_path / "work"
    result = subprocess.run(
        ["bash", "-c", _script(steps)],
        cwd=tmp_path,
        env=_environment(work),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=SCRIPT_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:]
    outputs = _outputs(result.stdout, steps)
    for step in steps:
        for line in step.expected:
            seen = outputs.get(step.number, "")
            assert line in seen, (
                f"step {step.number} did not print {line!r}:\n{seen or '(no output)'}"
            )
