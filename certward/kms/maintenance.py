"""Background upkeep of the KMS: due automatic rotations, purges past the deletion date.

Every service process runs it; the work is safe to repeat (each change re-checks
under the key row's lock), so several processes or nodes never rotate a key twice
for one period.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from certward.ca.context import CAContext
from certward.errors import CertwardError
from certward.kms.byok import purge_expired_import_tokens
from certward.kms.lifecycle import purge_deleted_keys
from certward.kms.rotation import rotate_due_keys

__all__ = ["KmsMaintenance", "MaintenanceReport", "run_maintenance"]

_log = structlog.get_logger()


@dataclass(frozen=True)
class MaintenanceReport:
    """What one round did."""

    rotated: tuple[str, ...]
    purged: tuple[str, ...]
    expired_tokens: int


def run_maintenance(ctx: CAContext) -> MaintenanceReport:
    """Rotate due keys, purge keys past their deletion date, drop expired import tokens."""
    return MaintenanceReport(
        rotated=rotate_due_keys(ctx),
        purged=purge_deleted_keys(ctx),
        expired_tokens=purge_expired_import_tokens(ctx),
    )


class KmsMaintenance:
    """A daemon thread running :func:`run_maintenance` every ``interval`` seconds.

    ``on_change(key_id)`` is called for each rotated or purged key (the service's key
    cache forgets what it held).
    """

    def __init__(
        self, ctx: CAContext, *, interval: float, on_change: Callable[[str | None], None]
    ) -> None:
        self._ctx = ctx
        self._interval = interval
        self._on_change = on_change
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="certward-kms-maintenance", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread (a round in progress finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                report = run_maintenance(self._ctx)
            except CertwardError as exc:
                _log.warning("kms.maintenance_failed", code=exc.code, error=exc.message)
                continue
            except Exception as exc:
                _log.warning("kms.maintenance_failed", error=type(exc).__name__)
                continue
            if report.rotated:
                self._on_change(None)
            for key_id in report.purged:
                self._on_change(key_id)
