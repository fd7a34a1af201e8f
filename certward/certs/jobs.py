"""CSR jobs: a CSR for a slot made in the background, its key kept sealed for the install.

:func:`submit_csr_job` checks the request, stores a ``queued`` job and returns
at once; a worker thread of this process makes the key and the CSR, hands the
key to the slot's pending-key store (sealed by the keystore) and stores the
CSR in the job. With ``sign_with`` the job goes on: certward's own CA signs
the CSR and the certificate is installed into the slot, where it pairs with
the stored key. The job record lives in the database, so any worker (or node)
answers ``GET /v1/jobs/{id}``.

A job whose process died while it ran would stay ``queued``/``running``: every
node's heartbeat marks such jobs ``failed`` (``job.abandoned``) once they are
older than :data:`ABANDONED_AFTER`, far longer than any job takes, so no node
needs to know which process ran which job. The job is not retried: a new CSR
is cheap and the OpenBMC flow always starts with one.
"""

from __future__ import annotations

import enum
import json
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select, update

from certward.ca.context import CAContext
from certward.ca.group_commit import TableRow, insert_rows
from certward.ca.issue import sign_csr
from certward.certs.csr import CSRRequest, generate_csr
from certward.certs.manager import install_certificate
from certward.certs.pending_keys import store_pending_key
from certward.certs.slots import SlotKind, SlotSpec, get_slot
from certward.crypto.formats import chain_pem
from certward.crypto.keys import KeyType
from certward.errors import CertwardError, CSRJobNotFound, InvalidCSRRequest
from certward.store.models import CSRJobRow

__all__ = [
    "ABANDONED_AFTER",
    "CSRJob",
    "JobState",
    "abandon_stale_jobs",
    "get_job",
    "submit_csr_job",
    "wait_for_job",
]

_log = structlog.get_logger()

# Two threads: RSA 4096 takes seconds, and one slow job should not hold up the next.
_WORKERS = 2
_WAIT_INTERVAL = 0.05
# An RSA-4096 key takes seconds and a sign-and-install waits at most for a reload's
# timeout; a job still unfinished after this long lost its process.
ABANDONED_AFTER = timedelta(minutes=15)
_KEY_FAMILY = {
    KeyType.RSA_2048: "RSA",
    KeyType.RSA_3072: "RSA",
    KeyType.RSA_4096: "RSA",
    KeyType.EC_P256: "EC",
    KeyType.EC_P384: "EC",
    KeyType.ED25519: "Ed25519",
}
_DEFAULT_PROFILE = {SlotKind.SERVER: "server", SlotKind.CLIENT: "client"}


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class CSRJob:
    """A CSR job as stored: its state, and the CSR (PEM) once made."""

    id: str
    slot: str
    state: JobState
    key_type: str
    request: dict[str, Any] = field(compare=False)
    created_at: datetime
    sign_with: str | None = None
    profile: str | None = None
    csr_pem: str | None = None
    certificate_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    actor: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def done(self) -> bool:
        """Succeeded or failed: nothing more will happen to it."""
        return self.state in (JobState.SUCCEEDED, JobState.FAILED)


def _job_of(row: CSRJobRow) -> CSRJob:
    return CSRJob(
        id=row.id,
        slot=row.slot,
        state=JobState(row.state),
        key_type=row.key_type,
        request=json.loads(row.request),
        created_at=row.created_at,
        sign_with=row.sign_with,
        profile=row.profile,
        csr_pem=row.csr_pem,
        certificate_id=row.certificate_id,
        error_code=row.error_code,
        error_message=row.error_message,
        actor=row.actor,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


class _Runner:
    """The worker threads of this process (started on first use)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, work: Callable[[], None]) -> None:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(_WORKERS, thread_name_prefix="csr-job")
            self._pool.submit(work)


_RUNNER = _Runner()


def _check_slot(slot: SlotSpec, request: CSRRequest) -> None:
    if not slot.holds_key:
        raise InvalidCSRRequest(
            f"slot {slot.name!r} holds CA certificates only; a CSR needs a server or client slot",
            "slot",
        )
    family = _KEY_FAMILY[request.key_type]
    if family not in slot.key_types:
        raise InvalidCSRRequest(
            f"key_pair_algorithm {family} is not accepted by slot {slot.name!r} "
            f"(it takes {', '.join(slot.key_types)})",
            "key_pair_algorithm",
        )


def submit_csr_job(
    ctx: CAContext,
    slot: str,
    request: CSRRequest,
    *,
    actor: str | None,
    sign_with: str | None = None,
    profile: str | None = None,
    extra_rows: Sequence[TableRow] = (),
) -> CSRJob:
    """Store a CSR job for ``slot`` and start it in the background; returns it ``queued``.

    Args:
        sign_with: name of a certward CA that signs the CSR once made; the
            certificate is then installed into the slot (with the new key).
        profile: the CA profile for ``sign_with`` (default: ``server`` for a
            server slot, ``client`` for a client slot).
        extra_rows: stored in the job's transaction (the audit record).

    Raises SlotNotFound, InvalidCSRRequest (authority slot, key type the slot
    refuses), CANotFound and ProfileNotFound before anything is stored.
    """
    spec = get_slot(ctx, slot)
    _check_slot(spec, request)
    if sign_with is not None:
        profile = profile or _DEFAULT_PROFILE[spec.kind]
        ctx.profiles.get(profile)  # ProfileNotFound
        with ctx.database.read() as session:
            ctx.ca_row(session, sign_with)  # CANotFound
    else:
        profile = None
    job_id = uuid.uuid4().hex
    now = ctx.clock()
    with ctx.database.transaction() as session:
        row = CSRJobRow(
            id=job_id,
            slot=spec.name,
            state=JobState.QUEUED.value,
            request=json.dumps(request.describe(), sort_keys=True),
            key_type=request.key_type.value,
            sign_with=sign_with,
            profile=profile,
            actor=actor,
            created_at=now,
        )
        session.add(row)
        insert_rows(session, extra_rows)
    work = _Work(job_id, spec.name, request, sign_with, profile, actor)
    _RUNNER.submit(lambda: _run(ctx, work))
    return _job_of(row)


def _update(ctx: CAContext, job_id: str, **values: Any) -> None:
    with ctx.database.transaction() as session:
        row = session.get(CSRJobRow, job_id)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)


@dataclass(frozen=True)
class _Work:
    """What a worker thread needs to carry a job out."""

    job_id: str
    slot: str
    request: CSRRequest = field(repr=False)
    sign_with: str | None
    profile: str | None
    actor: str | None


def _run(ctx: CAContext, work: _Work) -> None:
    job_id, slot = work.job_id, work.slot
    try:
        _update(ctx, job_id, state=JobState.RUNNING.value, started_at=ctx.clock())
        generated = generate_csr(work.request)
        store_pending_key(ctx, slot, generated.private_key, job_id=job_id)
        csr_pem = generated.csr_pem.decode("ascii")
        certificate_id = None
        if work.sign_with is not None:
            _update(ctx, job_id, csr_pem=csr_pem)
            certificate_id = _sign_and_install(ctx, work, generated.csr_pem)
        _update(
            ctx,
            job_id,
            state=JobState.SUCCEEDED.value,
            csr_pem=csr_pem,
            certificate_id=certificate_id,
            finished_at=ctx.clock(),
        )
        _log.info("csr_job.succeeded", job=job_id, slot=slot, signed=work.sign_with is not None)
    except CertwardError as exc:
        _log.warning("csr_job.failed", job=job_id, slot=slot, error=exc.code)
        _fail(ctx, job_id, exc.code, exc.message)
    except Exception as exc:  # a worker thread must record every failure, never die silently
        _log.error("csr_job.failed", job=job_id, slot=slot, error=type(exc).__name__, exc_info=exc)
        _fail(ctx, job_id, "internal", "internal error")


def _fail(ctx: CAContext, job_id: str, code: str, message: str) -> None:
    try:
        _update(
            ctx,
            job_id,
            state=JobState.FAILED.value,
            error_code=code,
            error_message=message,
            finished_at=ctx.clock(),
        )
    except CertwardError as exc:  # the database is gone: the job stays unfinished
        _log.error("csr_job.unrecorded", job=job_id, error=exc.code)


def _sign_and_install(ctx: CAContext, work: _Work, csr_pem: bytes) -> str:
    assert work.sign_with is not None and work.profile is not None
    issued = sign_csr(ctx, ca_name=work.sign_with, profile=work.profile, csr_data=csr_pem)
    installed = install_certificate(
        ctx, work.slot, chain_pem(issued.full_chain), actor=work.actor or "csr-job"
    )
    certificate_id: str = installed.id
    return certificate_id


def get_job(ctx: CAContext, job_id: str) -> CSRJob:
    """The job ``job_id``; CSRJobNotFound otherwise."""
    with ctx.database.read() as session:
        row = session.scalar(select(CSRJobRow).where(CSRJobRow.id == job_id))
    if row is None:
        raise CSRJobNotFound(f"no CSR job {job_id!r}")
    return _job_of(row)


def wait_for_job(ctx: CAContext, job_id: str, *, timeout: float) -> CSRJob:
    """The job once it is done, or as it is when ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    job = get_job(ctx, job_id)
    while not job.done and time.monotonic() < deadline:
        time.sleep(_WAIT_INTERVAL)
        job = get_job(ctx, job_id)
    return job


def abandon_stale_jobs(ctx: CAContext, *, older_than: timedelta = ABANDONED_AFTER) -> int:
    """Mark failed the jobs still unfinished ``older_than`` after they were made; how many."""
    now = ctx.clock()
    with ctx.database.transaction() as session:
        result = session.execute(
            update(CSRJobRow)
            .where(
                CSRJobRow.state.in_((JobState.QUEUED.value, JobState.RUNNING.value)),
                CSRJobRow.created_at < now - older_than,
            )
            .values(
                state=JobState.FAILED.value,
                error_code="job.abandoned",
                error_message="the process running this job stopped before it finished; "
                "request a new CSR",
                finished_at=now,
            )
        )
    abandoned = int(getattr(result, "rowcount", 0) or 0)
    if abandoned:
        _log.warning("csr_job.abandoned", count=abandoned)
    return abandoned
