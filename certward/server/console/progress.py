"""Progress of long console operations (bulk issue, CRL publish), polled by htmx.

A job runs in a thread of this process; its page polls ``/ui/jobs/{id}/status``
(an HTML fragment that replaces itself until the job is done). The progress is
UI state only and lives in this process's memory: the work itself is done by the
services, each step its own audited transaction, so nothing depends on it. A poll
that reaches another worker or node (or a restarted one) says so, and the
outcome is found where it always is (the lists, the audit log).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Annotated

import structlog
from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse

from certward.errors import CertwardError
from certward.server.auth import Caller
from certward.server.console.render import render
from certward.server.console.security import ConsoleCaller

__all__ = ["Job", "JobResult", "Progress", "router", "start_job"]

_log = structlog.get_logger()
_KEEP_SECONDS = 3600.0  # finished jobs are shown this long
_MAX_JOBS = 200


@dataclass(frozen=True)
class JobResult:
    """What a finished job shows: a sentence and an optional link (relative to /ui)."""

    summary: str
    link: str | None = None
    link_label: str | None = None


@dataclass(frozen=True)
class Job:
    """A snapshot of one job's progress."""

    id: str
    owner: str
    title: str
    total: int
    done: int = 0
    result: JobResult | None = None
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def percent(self) -> int:
        return 100 if self.total <= 0 else min(100, self.done * 100 // self.total)


class Progress:
    """Step counter handed to a job's work: ``progress.advance()`` after each step."""

    def __init__(self, board: _JobBoard, job_id: str) -> None:
        self._board = board
        self._job_id = job_id

    def advance(self, steps: int = 1) -> None:
        """Count ``steps`` more steps as done."""
        self._board.update(self._job_id, lambda job: replace(job, done=job.done + steps))


class _JobBoard:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def add(self, job: Job) -> None:
        with self._lock:
            now = time.monotonic()
            for key, old in list(self._jobs.items()):
                if old.finished is not None and now - old.finished > _KEEP_SECONDS:
                    del self._jobs[key]
            if len(self._jobs) >= _MAX_JOBS:
                oldest = min(self._jobs.values(), key=lambda j: j.finished or float("inf"))
                self._jobs.pop(oldest.id, None)
            self._jobs[job.id] = job

    def update(self, job_id: str, change: Callable[[Job], Job]) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                self._jobs[job_id] = change(job)

    def get(self, job_id: str, owner: str) -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
        return job if job is not None and job.owner == owner else None


_BOARD = _JobBoard()


def start_job(who: Caller, *, title: str, total: int, work: Callable[[Progress], JobResult]) -> str:
    """Run ``work`` in a thread of this process; return the job id for ``/ui/jobs/{id}``.

    ``work`` calls ``progress.advance()`` after each of its ``total`` steps and
    returns what to show when done; a CertwardError it raises is shown as the outcome.
    """
    job = Job(id=secrets.token_hex(12), owner=who.name, title=title, total=total)
    _BOARD.add(job)

    def run() -> None:
        try:
            result = work(Progress(_BOARD, job.id))
        except CertwardError as exc:
            message = exc.message
            _BOARD.update(job.id, lambda j: replace(j, error=message, finished=time.monotonic()))
            return
        except Exception as exc:
            _log.error("console.job_failed", job=job.id, error=type(exc).__name__, exc_info=exc)
            _BOARD.update(
                job.id,
                lambda j: replace(j, error="internal error (logged)", finished=time.monotonic()),
            )
            return
        _BOARD.update(job.id, lambda j: replace(j, result=result, finished=time.monotonic()))

    threading.Thread(target=run, name=f"console-job-{job.id[:6]}", daemon=True).start()
    return job.id


router = APIRouter()
JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{24}$")]


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
async def job_page(request: Request, job_id: JobId, who: ConsoleCaller) -> HTMLResponse:
    """A job's page: its progress, refreshed by polling until done."""
    job = _BOARD.get(job_id, who.name)
    return render(request, "jobs/page.html", caller=who, context={"job": job, "job_id": job_id})


@router.get("/jobs/{job_id}/status", response_class=HTMLResponse)
async def job_status(request: Request, job_id: JobId, who: ConsoleCaller) -> HTMLResponse:
    """The progress fragment (htmx swaps it in place of itself)."""
    job = _BOARD.get(job_id, who.name)
    return render(request, "jobs/status.html", caller=who, context={"job": job, "job_id": job_id})
