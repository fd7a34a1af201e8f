"""``POST /v1/slots/{kind}/{label}/csr`` (a CSR job, 202 at once) and ``GET /v1/jobs/{id}``.

Field checks answer 400 ``csr.invalid`` naming the field; the key and the CSR
are made in the background. ``sign_with`` (a certward CA, ``profile``
optional) has the job sign the CSR and install the certificate, which pairs
with the new key, in one step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from certward.certs.jobs import CSRJob
from certward.server.auth import Caller, blocking, caller
from certward.server.slot_calls import read_csr_job_as, submit_csr_as

__all__ = ["CSRIn", "JobOut", "router"]

router = APIRouter(tags=["slots"])
Who = Annotated[Caller, Depends(caller)]
JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


class CSRIn(BaseModel):
    """The fields of a CSR (Redfish GenerateCSR's, in snake_case); checked by the service."""

    model_config = ConfigDict(extra="forbid")

    city: str | None = None
    common_name: str | None = None
    country: str | None = Field(default=None, description="two letters, e.g. US")
    organization: str | None = None
    organizational_unit: str | None = None
    state: str | None = None
    alternative_names: list[str] | None = Field(default=None, description="DNS names or IPs")
    challenge_password: str | None = None
    contact_person: str | None = None
    email: str | None = None
    given_name: str | None = None
    initials: str | None = None
    key_bit_length: int | None = Field(default=None, description="RSA: 2048, 3072 or 4096")
    key_curve_id: str | None = Field(default=None, description="EC: secp256r1 or secp384r1")
    key_pair_algorithm: str | None = Field(default=None, description="RSA, EC (default), Ed25519")
    key_usage: list[str] | None = None
    surname: str | None = None
    unstructured_name: str | None = None
    sign_with: str | None = Field(
        default=None, max_length=64, description="a certward CA: sign and install in one step"
    )
    profile: str | None = Field(default=None, max_length=64, description="profile of sign_with")


class JobError(BaseModel):
    code: str
    message: str


class JobOut(BaseModel):
    """A CSR job: ``state`` queued → running → succeeded | failed."""

    id: str
    slot: str
    state: Literal["queued", "running", "succeeded", "failed"]
    key_type: str
    request: dict[str, Any]
    csr_pem: str | None
    sign_with: str | None
    profile: str | None
    certificate_id: str | None = Field(description="installed certificate (sign_with)")
    error: JobError | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def job_out(job: CSRJob) -> JobOut:
    error = None
    if job.error_code is not None:
        error = JobError(code=job.error_code, message=job.error_message or "")
    return JobOut(
        id=job.id,
        slot=job.slot,
        state=job.state.value,
        key_type=job.key_type,
        request=job.request,
        csr_pem=job.csr_pem,
        sign_with=job.sign_with,
        profile=job.profile,
        certificate_id=job.certificate_id,
        error=error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


@router.post("/v1/slots/{kind}/{label}/csr", response_model=JobOut, status_code=202)
async def create_csr(kind: str, label: str, body: CSRIn, who: Who) -> JobOut:
    """Start a CSR job for the slot: a new key (kept sealed for the install) and its CSR."""
    slot = f"{kind}/{label}"

    def work() -> JobOut:
        fields = body.model_dump(exclude={"sign_with", "profile"}, exclude_none=True)
        job = submit_csr_as(who, slot, fields, sign_with=body.sign_with, profile=body.profile)
        return job_out(job)

    return await blocking(work)


@router.get("/v1/jobs/{job_id}", response_model=JobOut)
async def read_job(job_id: JobId, who: Who) -> JobOut:
    """A CSR job: its state and, once made, the CSR (403 without certs.manage, job or not)."""

    def work() -> JobOut:
        return job_out(read_csr_job_as(who, job_id))

    return await blocking(work)
