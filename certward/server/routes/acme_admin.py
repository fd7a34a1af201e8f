"""``/v1/acme/eab-keys``: External Account Binding keys that tie ACME accounts to principals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from certward.access.grants import Permission
from certward.acme.accounts import create_eab_key
from certward.server.auth import Caller, blocking, caller
from certward.server.schemas import EabKeyCreate, EabKeyOut

__all__ = ["router"]

router = APIRouter(prefix="/v1/acme", tags=["acme"])
Who = Annotated[Caller, Depends(caller)]


@router.post("/eab-keys", response_model=EabKeyOut, status_code=201)
async def create(body: EabKeyCreate, who: Who) -> EabKeyOut:
    """A single-use EAB key for a principal (admin only); the HMAC key is shown this once.

    Give the key id and HMAC key to the ACME client (e.g. certbot ``--eab-kid`` and
    ``--eab-hmac-key``): the account it registers is bound to the principal and its
    orders are audited under the principal's name.
    """

    def work() -> EabKeyOut:
        who.require_for("acme.eab_key.create", body.principal, Permission.ADMIN)
        key = who.audited(
            "acme.eab_key.create",
            body.principal,
            lambda audit: create_eab_key(
                who.runtime.ctx, principal=body.principal, extra_rows=audit
            ),
        )
        return EabKeyOut(key_id=key.key_id, hmac_key=key.hmac_key, principal=key.principal)

    return await blocking(work)
