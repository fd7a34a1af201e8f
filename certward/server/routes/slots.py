"""``/v1/slots``: certificate slots of services; install, replace, delete, CRLs.

Slot names hold a slash (``server/https``), so a slot is addressed as
``/v1/slots/{kind}/{label}``. Every route needs ``certs.manage`` on the slot
(creating a slot needs ``admin``: its reload action runs commands).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from certward.access.grants import Permission
from certward.certs.manager import get_certificate, install_crl, list_certificates, list_crls
from certward.certs.slot_removal import remove_slot
from certward.certs.slots import create_slot, get_slot
from certward.config import SlotSettings
from certward.server.auth import Caller, blocking, caller
from certward.server.slot_calls import (
    delete_slot_certificate_as,
    install_slot_certificate_as,
    manageable_slots,
    replace_slot_certificate_as,
)
from certward.server.slot_schemas import (
    CertificateUpload,
    CRLUpload,
    SlotCertificateOut,
    SlotCreate,
    SlotCRLOut,
    SlotDeleteOut,
    SlotOut,
    crl_out,
    slot_certificate_out,
    slot_out,
)

__all__ = ["router"]

router = APIRouter(prefix="/v1/slots", tags=["slots"])
Who = Annotated[Caller, Depends(caller)]
_SLOT = "/{kind}/{label}"


def _name(kind: str, label: str) -> str:
    return f"{kind}/{label}"


def _password(upload: CertificateUpload) -> bytes | None:
    return upload.password.encode() if upload.password is not None else None


@router.get("", response_model=list[SlotOut])
async def list_(who: Who) -> list[SlotOut]:
    """Every slot the caller may manage."""

    def work() -> list[SlotOut]:
        return [slot_out(spec) for spec in manageable_slots(who)]

    return await blocking(work)


@router.post("", response_model=SlotOut, status_code=201)
async def create(body: SlotCreate, who: Who) -> SlotOut:
    """Create a slot (admin only: its reload action runs as certward)."""

    def work() -> SlotOut:
        who.require_for("slot.create", body.name, Permission.ADMIN)
        settings = SlotSettings.model_validate(body.model_dump(exclude={"name"}))
        spec = who.audited(
            "slot.create",
            body.name,
            lambda audit: create_slot(
                who.runtime.ctx, body.name, settings, actor=who.name, extra_rows=audit
            ),
            details={"directory": settings.directory},
        )
        return slot_out(spec)

    return await blocking(work)


@router.delete(_SLOT, status_code=204, response_class=Response)
async def remove(kind: str, label: str, who: Who) -> Response:
    """Remove a slot made through the API (admin only); its files stay on disk."""
    name = _name(kind, label)

    def work() -> None:
        who.require_for("slot.remove", name, Permission.ADMIN)
        who.audited(
            "slot.remove",
            name,
            lambda audit: remove_slot(who.runtime.ctx, name, actor=who.name, extra_rows=audit),
        )

    await blocking(work)
    return Response(status_code=204)


@router.get(_SLOT, response_model=SlotOut)
async def get(kind: str, label: str, who: Who) -> SlotOut:
    """One slot."""

    def work() -> SlotOut:
        who.require(Permission.CERTS_MANAGE, resource=_name(kind, label))
        return slot_out(get_slot(who.runtime.ctx, _name(kind, label)))

    return await blocking(work)


@router.get(_SLOT + "/certificates", response_model=list[SlotCertificateOut])
async def certificates(kind: str, label: str, who: Who) -> list[SlotCertificateOut]:
    """The certificates of a slot."""

    def work() -> list[SlotCertificateOut]:
        who.require(Permission.CERTS_MANAGE, resource=_name(kind, label))
        found = list_certificates(who.runtime.ctx, _name(kind, label))
        return [slot_certificate_out(c) for c in found]

    return await blocking(work)


@router.post(_SLOT + "/certificates", response_model=SlotCertificateOut, status_code=201)
async def install(kind: str, label: str, body: CertificateUpload, who: Who) -> SlotCertificateOut:
    """Install a certificate (with its key for server/client slots), then reload."""
    slot = _name(kind, label)

    def work() -> SlotCertificateOut:
        installed = install_slot_certificate_as(
            who,
            slot,
            body.certificate_pem.encode(),
            key_pem=body.key_pem.encode() if body.key_pem else None,
            password=_password(body),
        )
        return slot_certificate_out(installed)

    return await blocking(work)


@router.get(_SLOT + "/certificates/{cert_id}", response_model=SlotCertificateOut)
async def get_one(kind: str, label: str, cert_id: str, who: Who) -> SlotCertificateOut:
    """One certificate of a slot."""

    def work() -> SlotCertificateOut:
        who.require(Permission.CERTS_MANAGE, resource=_name(kind, label))
        return slot_certificate_out(get_certificate(who.runtime.ctx, _name(kind, label), cert_id))

    return await blocking(work)


@router.put(_SLOT + "/certificates/{cert_id}", response_model=SlotCertificateOut)
async def replace(
    kind: str, label: str, cert_id: str, body: CertificateUpload, who: Who
) -> SlotCertificateOut:
    """Replace a certificate of a slot, then reload."""
    slot = _name(kind, label)

    def work() -> SlotCertificateOut:
        replaced = replace_slot_certificate_as(
            who,
            slot,
            cert_id,
            body.certificate_pem.encode(),
            key_pem=body.key_pem.encode() if body.key_pem else None,
            password=_password(body),
        )
        return slot_certificate_out(replaced)

    return await blocking(work)


@router.delete(_SLOT + "/certificates/{cert_id}", response_model=SlotDeleteOut)
async def delete(kind: str, label: str, cert_id: str, who: Who) -> SlotDeleteOut:
    """Delete a certificate; a server slot gets a self-signed one in its place."""
    slot = _name(kind, label)

    def work() -> SlotDeleteOut:
        fallback = delete_slot_certificate_as(who, slot, cert_id)
        return SlotDeleteOut(
            deleted=cert_id,
            replacement=slot_certificate_out(fallback) if fallback is not None else None,
        )

    return await blocking(work)


@router.get(_SLOT + "/crl", response_model=list[SlotCRLOut])
async def crls(kind: str, label: str, who: Who) -> list[SlotCRLOut]:
    """The CRLs in a slot's hash directory."""

    def work() -> list[SlotCRLOut]:
        who.require(Permission.CERTS_MANAGE, resource=_name(kind, label))
        return [crl_out(crl) for crl in list_crls(who.runtime.ctx, _name(kind, label))]

    return await blocking(work)


@router.post(_SLOT + "/crl", response_model=SlotCRLOut, status_code=201)
async def add_crl(kind: str, label: str, body: CRLUpload, who: Who) -> SlotCRLOut:
    """Install a CRL into a ``crl_enabled`` slot (next ``hash.rN``), then reload."""
    slot = _name(kind, label)

    def work() -> SlotCRLOut:
        who.require_for("slot.crl_install", slot, Permission.CERTS_MANAGE, resource=slot)
        installed = who.audited(
            "slot.crl_install",
            slot,
            lambda audit: install_crl(
                who.runtime.ctx, slot, body.crl_pem.encode(), actor=who.name, extra_rows=audit
            ),
        )
        return crl_out(installed)

    return await blocking(work)
