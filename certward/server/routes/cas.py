"""``/v1/cas``: certificate authorities and their CRLs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from certward.access.grants import Permission, is_allowed
from certward.ca.authority import CAInfo, create_ca, get_ca, list_cas
from certward.ca.crl import publish_crl
from certward.ca.extensions import NameConstraintSpec
from certward.crypto.keys import KeyType
from certward.crypto.names import parse_subtrees
from certward.server.auth import Caller, blocking, caller
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
        who.require(Permission.CA_READ)  # some ca.read grant at all, else 403
        readable = [
            info
            for info in list_cas(who.runtime.ctx)
            if is_allowed(who.principal.grants, Permission.CA_READ, resource=info.name)
        ]
        return [ca_out(info) for info in readable]

    return await blocking(work)


@router.post("", response_model=CAOut, status_code=201)
async def create(body: CACreate, who: Who) -> CAOut:
    """Create a root CA, or an intermediate under ``parent`` (admin only)."""

    def work() -> CAOut:
        who.require_for("ca.create", body.name, Permission.ADMIN)
        constraints = None
        if body.permitted or body.excluded:
            constraints = NameConstraintSpec(
                permitted=parse_subtrees(body.permitted), excluded=parse_subtrees(body.excluded)
            )
        info = who.audited(
            "ca.create",
            body.name,
            lambda audit: create_ca(
                who.runtime.ctx,
                name=body.name,
                subject=body.subject,
                parent=body.parent,
                key_type=KeyType.parse(body.key_type),
                days=body.days,
                path_length=body.path_length,
                name_constraints=constraints,
                extra_rows=audit,
            ),
            details={"parent": body.parent, "key_type": body.key_type},
        )
        return ca_out(info)

    return await blocking(work)


@router.get("/{name}", response_model=CAOut)
async def get(name: str, who: Who) -> CAOut:
    """One CA."""

    def work() -> CAOut:
        who.require(Permission.CA_READ, resource=name)
        return ca_out(get_ca(who.runtime.ctx, name))

    return await blocking(work)


@router.post("/{name}/crl", response_model=CRLOut, status_code=201)
async def publish(name: str, who: Who, body: CRLPublishIn | None = None) -> CRLOut:
    """Issue the next CRL of the CA now (needs ``ca.revoke`` on it; the body is optional)."""
    days = body.days if body is not None else None

    def work() -> CRLOut:
        who.require_for("crl.publish", name, Permission.CA_REVOKE, resource=name)
        crl = who.audited(
            "crl.publish",
            name,
            lambda audit: publish_crl(who.runtime.ctx, name, days=days, extra_rows=audit),
        )
        who.runtime.reload_tls()
        return CRLOut(
            ca=crl.ca_name,
            crl_number=crl.number,
            this_update=crl.this_update,
            next_update=crl.next_update,
            entries=crl.entries,
        )

    return await blocking(work)
