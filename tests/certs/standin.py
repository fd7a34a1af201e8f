"""A stand-in for a slot's service: a real child process that reloads on SIGHUP.

On SIGHUP it copies ``<slot dir>/cert.pem`` into a marker file, so a test sees
which certificate the service would serve after the reload.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["running_standin", "wait_for_content"]

_SERVICE = """
import signal, sys, pathlib, time
slot, marker, ready = map(pathlib.Path, sys.argv[1:4])
def reload(*_):
    marker.write_bytes((slot / "cert.pem").read_bytes())
signal.signal(signal.SIGHUP, reload)
ready.write_text("ready")
while True:
    time.sleep(0.05)
"""


@contextmanager
def running_standin(work_dir: Path, slot_dir: Path) -> Iterator[tuple[Path, Path]]:
    """Start the stand-in for ``slot_dir``; yields (pid file, marker file)."""
    marker, ready, pid_file = work_dir / "marker", work_dir / "ready", work_dir / "svc.pid"
    child = subprocess.Popen(
        [sys.executable, "-c", _SERVICE, str(slot_dir), str(marker), str(ready)]
    )
    try:
        while not ready.exists():
            assert child.poll() is None, "the stand-in service died"
            threading.Event().wait(0.02)
        pid_file.write_text(str(child.pid))
        yield pid_file, marker
    finally:
        child.terminate()
        child.wait(timeout=10)


def wait_for_content(path: Path, content: bytes, *, attempts: int = 500) -> None:
    """Wait until ``path`` holds ``content`` (the stand-in reloads asynchronously)."""
    for _ in range(attempts):
        if path.exists() and path.read_bytes() == content:
            return
        threading.Event().wait(0.02)
    raise AssertionError(f"{path} never held the expected content")
