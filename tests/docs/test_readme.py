"""The README's SDK example runs as written against a real ``certward serve``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.client.live_server import running_server

README = Path(__file__).resolve().parents[2] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_readme_sdk_example_issues_and_revokes_a_certificate(tmp_path: Path) -> None:
    (example,) = _python_blocks()
    with running_server(tmp_path / "certward-data") as server:
        # The README speaks of the default data dir and port; point them at this server.
        script = example.replace("https://127.0.0.1:8443", server.url)
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            env={k: v for k, v in os.environ.items() if not k.startswith("CERTWARD_")},
            check=False,
        )
        assert result.returncode == 0, result.stderr
        serial, request_id = result.stdout.split()
        with server.client() as admin:
            issued = admin.get_certificate(serial)
    assert issued.status.value == "revoked"
    assert issued.revocation_reason == "keyCompromise"
    assert request_id
