"""``/v1/principals``: API identities (admin only) and ``/v1/whoami``."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from certward.access.grants import Grant, Permission
from certward.access.principals import Principal, get_principal
from certward.server.auth import Caller, blocking, caller
from certward.server.principal_calls import (
    create_principal_as,
    disable_principal_as,
    list_principals_as,
)
from certward.server.schemas import (
    GrantModel,
    PrincipalBundleOut,
    PrincipalCreate,
    PrincipalOut,
    WhoAmI,
)

__all__ = ["router"]

router = APIRouter(tags=["principals"])
Who = Annotated[Caller, Depends(caller)]


def _grant_models(grants: tuple[Grant, ...]) -> list[GrantModel]:
    return [GrantModel.model_validate(grant.to_dict()) for grant in grants]


def _principal_out(principal: Principal) -> PrincipalOut:
    return PrincipalOut(
        name=principal.name,
        description=principal.description,
        grants=_grant_models(principal.grants),
        certificate_serial=principal.certificate_serial,
        created_at=principal.created_at,
        created_by=principal.created_by,
        disabled_at=principal.disabled_at,
        enabled=principal.enabled,
    )


@router.get("/v1/whoami", response_model=WhoAmI)
async def whoami(who: Who) -> WhoAmI:
    """The calling principal and its grants."""
    return WhoAmI(name=who.name, grants=_grant_models(who.principal.grants))


@router.post("/v1/principals", response_model=PrincipalBundleOut, status_code=201)
async def create(body: PrincipalCreate, who: Who) -> PrincipalBundleOut:
    """Create a principal; the response holds its only private key and PKCS#12 password."""

    def work() -> PrincipalBundleOut:
        bundle = create_principal_as(
            who,
            name=body.name,
            grants=[grant.model_dump() for grant in body.grants],
            description=body.description,
            days=body.days,
        )
        return PrincipalBundleOut(
            principal=_principal_out(bundle.principal),
            certificate_pem=bundle.certificate_pem.decode(),
            chain_pem=bundle.chain_pem.decode(),
            private_key_pem=bundle.private_key_pem.decode(),
            pkcs12_base64=base64.b64encode(bundle.pkcs12).decode(),
            pkcs12_password=bundle.pkcs12_password,
        )

    return await blocking(work)


@router.get("/v1/principals", response_model=list[PrincipalOut])
async def list_(
    who: Who,
    response: Response,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> list[PrincipalOut]:
    """Principals by name, at most ``limit`` (1000) after ``after``; more: ``X-Next-After``."""

    def work() -> list[PrincipalOut]:
        found = list_principals_as(who, limit=limit + 1, after=after)
        if len(found) > limit:
            found = found[:limit]
            response.headers["X-Next-After"] = found[-1].name
        return [_principal_out(p) for p in found]

    return await blocking(work)


@router.get("/v1/principals/{name}", response_model=PrincipalOut)
async def get(name: str, who: Who) -> PrincipalOut:
    """One principal."""

    def work() -> PrincipalOut:
        who.require(Permission.ADMIN)
        return _principal_out(get_principal(who.runtime.ctx, name))

    return await blocking(work)


@router.post("/v1/principals/{name}/disable", response_model=PrincipalOut)
async def disable(name: str, who: Who) -> PrincipalOut:
    """Disable a principal: its certificate is revoked and refused from the next handshake."""

    def work() -> PrincipalOut:
        return _principal_out(disable_principal_as(who, name))

    return await blocking(work)
