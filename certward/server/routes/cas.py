"""``/v1/cas``: certificate authorities and their CRLs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from certward.ca.authority import CAInfo
from certward.server.auth import Caller, blocking, caller
from certward.server.ca_calls import create_ca_as, publish_crl_as, read_ca_as, readable_cas
from certward.server.schemas import CACreate, CAOut, CRLOut, CRLPublishIn

__all__ = ["ca_out", "router"]

router = APIRouter(prefix="/v1/cas", tags=["cas"])
Who = Annotated[Caller, Depends(caller)]


def ca_out(info: CAInfo) -> CAOut:
    return CAOut(
        name=info.name,
        parent=info.parent,
        subject=info.subject,
        key_type=info.key_type,
        serial=info.serial,
        not_before=info.not_before,
        not_after=info.not_after,
        path_length=info.path_length,
        crl_number=info.crl_number,
        certificate_pem=info.certificate_pem.decode(),
    )


@router.get("", response_model=list[CAOut])
async def list_(who: Who) -> list[CAOut]:
    """Every CA the caller may read."""

    def work() -> list[CAOut]:
        return [ca_out(info) for info in readable_cas(who)]

    return await blocking(work)


@router.post("", response_model=CAOut, status_code=201)
async def create(body: CACreate, who: Who) -> CAOut:
    """Create a root CA, or an intermediate under ``parent`` (admin only)."""

    def work() -> CAOut:
        info = create_ca_as(
            who,
            name=body.name,
            subject=body.subject,
            parent=body.parent,
            key_type=body.key_type,
            days=body.days,
            path_length=body.path_length,
            permitted=body.permitted,
            excluded=body.excluded,
        )
        return ca_out(info)

    return await blocking(work)


@router.get("/{name}", response_model=CAOut)
async def get(name: str, who: Who) -> CAOut:
    """One CA."""

    def work() -> CAOut:
        return ca_out(read_ca_as(who, name))

    return await blocking(work)


@router.post("/{name}/crl", response_model=CRLOut, status_code=201)
async def publish(name: str, who: Who, body: CRLPublishIn | None = None) -> CRLOut:
    """Issue the next CRL of the CA now (needs ``ca.revoke`` on it; the body is optional)."""
    days = body.days if body is not None else None

    def work() -> CRLOut:
        crl = publish_crl_as(who, name, days=days)
        return CRLOut(
            ca=crl.ca_name,
            crl_number=crl.number,
            this_update=crl.this_update,
            next_update=crl.next_update,
            entries=crl.entries,
        )

    return await blocking(work)
