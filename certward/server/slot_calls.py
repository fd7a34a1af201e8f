"""The slot operations as a caller makes them: access check, audit, service call.

Shared by the JSON routes (``routes/slots.py``, ``routes/jobs.py``) and the web
console, so a certificate installed from a browser is checked and audited exactly
like one installed through the API. Each function is blocking (run it with
:func:`certward.server.auth.blocking`) and returns the service's value objects.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from certward.access.grants import Permission, is_allowed
from certward.certs.certificates import SlotCertificate
from certward.certs.csr import csr_request_from_fields
from certward.certs.jobs import CSRJob, get_job, submit_csr_job
from certward.certs.manager import (
    delete_certificate,
    install_certificate,
    replace_certificate,
)
from certward.certs.slots import SlotSpec, list_slots
from certward.server.auth import Caller

__all__ = [
    "delete_slot_certificate_as",
    "install_slot_certificate_as",
    "manageable_slots",
    "read_csr_job_as",
    "replace_slot_certificate_as",
    "submit_csr_as",
]

# The profile a CSR job signs with when none is named (as certs.jobs chooses).
_DEFAULT_PROFILES = {"server": "server", "client": "client"}


def manageable_slots(who: Caller) -> list[SlotSpec]:
    """Every slot the caller may manage (AccessDenied without any ``certs.manage`` grant)."""
    who.require(Permission.CERTS_MANAGE)
    return [
        spec
        for spec in list_slots(who.runtime.ctx)
        if is_allowed(who.principal.grants, Permission.CERTS_MANAGE, resource=spec.name)
    ]


def install_slot_certificate_as(
    who: Caller,
    slot: str,
    certificate_pem: bytes,
    *,
    key_pem: bytes | None = None,
    password: bytes | None = None,
) -> SlotCertificate:
    """Install a certificate (and key) into ``slot``, then reload (``certs.manage``; audited)."""
    who.require_for("slot.install", slot, Permission.CERTS_MANAGE, resource=slot)
    return who.audited(
        "slot.install",
        slot,
        lambda audit: install_certificate(
            who.runtime.ctx,
            slot,
            certificate_pem,
            actor=who.name,
            key_pem=key_pem,
            password=password,
            extra_rows=audit,
        ),
    )


def replace_slot_certificate_as(
    who: Caller,
    slot: str,
    cert_id: str,
    certificate_pem: bytes,
    *,
    key_pem: bytes | None = None,
    password: bytes | None = None,
) -> SlotCertificate:
    """Replace certificate ``cert_id`` of ``slot``, then reload (``certs.manage``; audited)."""
    who.require_for("slot.replace", slot, Permission.CERTS_MANAGE, resource=slot)
    return who.audited(
        "slot.replace",
        slot,
        lambda audit: replace_certificate(
            who.runtime.ctx,
            slot,
            cert_id,
            certificate_pem,
            actor=who.name,
            key_pem=key_pem,
            password=password,
            extra_rows=audit,
        ),
        details={"certificate": cert_id},
    )


def delete_slot_certificate_as(who: Caller, slot: str, cert_id: str) -> SlotCertificate | None:
    """Delete ``cert_id`` from ``slot`` (``certs.manage``; audited).

    Returns the self-signed certificate a server slot gets in its place, if any.
    """
    who.require_for("slot.delete", slot, Permission.CERTS_MANAGE, resource=slot)
    return who.audited(
        "slot.delete",
        slot,
        lambda audit: delete_certificate(
            who.runtime.ctx, slot, cert_id, actor=who.name, extra_rows=audit
        ),
        details={"certificate": cert_id},
    )


def submit_csr_as(
    who: Caller,
    slot: str,
    fields: Mapping[str, Any],
    *,
    sign_with: str | None = None,
    profile: str | None = None,
) -> CSRJob:
    """Start a CSR job for ``slot`` from Redfish-style ``fields`` (snake_case; audited).

    Needs ``certs.manage`` on the slot and, with ``sign_with``, ``ca.issue`` on that
    CA and profile too (signing is issuing). The fields are checked before anything
    is stored (InvalidCSRRequest names the field).
    """
    who.require_for("slot.csr", slot, Permission.CERTS_MANAGE, resource=slot)
    request = csr_request_from_fields(fields)
    if sign_with is not None:
        who.require_for(
            "slot.csr",
            slot,
            Permission.CA_ISSUE,
            resource=sign_with,
            profile=profile or _DEFAULT_PROFILES.get(slot.split("/", 1)[0]),
        )
    return who.audited(
        "slot.csr",
        slot,
        lambda audit: submit_csr_job(
            who.runtime.ctx,
            slot,
            request,
            actor=who.name,
            sign_with=sign_with,
            profile=profile,
            extra_rows=audit,
        ),
        details={"key_type": request.key_type.value, "sign_with": sign_with},
    )


def read_csr_job_as(who: Caller, job_id: str) -> CSRJob:
    """A CSR job (``certs.manage`` on its slot; without any such grant, 403 before the lookup)."""
    who.require(Permission.CERTS_MANAGE)
    job = get_job(who.runtime.ctx, job_id)
    who.require(Permission.CERTS_MANAGE, resource=job.slot)
    return job
