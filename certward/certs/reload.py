"""Tell a slot's service to pick up its new files: a command, a signal or a webhook."""

from __future__ import annotations

import json
import os
import signal as signals
import subprocess
from pathlib import Path

import httpx
import structlog

from certward.certs.slots import SlotSpec
from certward.errors import ReloadFailed

__all__ = ["run_reload"]

_log = structlog.get_logger()


def run_reload(spec: SlotSpec, *, change: str) -> None:
    """Run the slot's reload action after ``change`` (installed, replaced, …); ReloadFailed."""
    action = spec.reload
    if action.kind == "command":
        _run_command(spec, change)
    elif action.kind == "signal":
        assert action.pid_file is not None
        _send_signal(spec, action.pid_file)
    elif action.kind == "webhook":
        _call_webhook(spec, change)
    _log.info("slot.reloaded", slot=spec.name, action=action.kind, change=change)


def _run_command(spec: SlotSpec, change: str) -> None:
    action = spec.reload
    environment = {
        **os.environ,
        "CERTWARD_SLOT": spec.name,
        "CERTWARD_SLOT_DIR": str(spec.directory),
        "CERTWARD_CHANGE": change,
    }
    try:
        done = subprocess.run(
            action.command,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=action.timeout_seconds,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ReloadFailed(
            f"reload command of slot {spec.name} did not finish within {action.timeout_seconds:g} s"
        ) from None
    except OSError as exc:
        raise ReloadFailed(
            f"reload command of slot {spec.name} could not start: {exc.strerror}"
        ) from None
    if done.returncode != 0:
        raise ReloadFailed(
            f"reload command of slot {spec.name} exited with status {done.returncode}"
        )


def _send_signal(spec: SlotSpec, pid_file: Path) -> None:
    action = spec.reload
    try:
        pid = int(pid_file.read_text(encoding="ascii").strip())
    except (OSError, ValueError, UnicodeDecodeError):
        raise ReloadFailed(f"slot {spec.name}: no process id in {pid_file}") from None
    if pid <= 1:
        raise ReloadFailed(f"slot {spec.name}: {pid_file} holds no usable process id")
    try:
        os.kill(pid, signals.Signals[action.signal])
    except KeyError:
        raise ReloadFailed(f"slot {spec.name}: unknown signal {action.signal}") from None
    except ProcessLookupError:
        raise ReloadFailed(f"slot {spec.name}: no process {pid} (from {pid_file})") from None
    except PermissionError:
        raise ReloadFailed(f"slot {spec.name}: not allowed to signal process {pid}") from None


def _call_webhook(spec: SlotSpec, change: str) -> None:
    action = spec.reload
    assert action.url is not None
    body = json.dumps({"slot": spec.name, "change": change}).encode()
    try:
        response = httpx.post(
            action.url,
            content=body,
            headers={"content-type": "application/json"},
            timeout=action.timeout_seconds,
        )
    except httpx.HTTPError as exc:
        raise ReloadFailed(
            f"reload webhook of slot {spec.name} failed: {type(exc).__name__}"
        ) from None
    if not 200 <= response.status_code < 300:
        raise ReloadFailed(f"reload webhook of slot {spec.name} answered {response.status_code}")
