"""Read a slot's certificates."""

from __future__ import annotations

from certward.ca.context import CAContext
from certward.certs.certificates import SlotCertificate, slot_certificate_of
from certward.certs.render import slot_certificate_rows
from certward.certs.slots import get_slot
from certward.errors import SlotCertificateNotFound

__all__ = ["get_certificate", "list_certificates"]


def list_certificates(ctx: CAContext, slot: str) -> list[SlotCertificate]:
    """The certificates of ``slot`` in install order; SlotNotFound for an unknown slot."""
    spec = get_slot(ctx, slot)
    with ctx.database.read() as session:
        return [slot_certificate_of(row) for row in slot_certificate_rows(session, spec.name)]


def get_certificate(ctx: CAContext, slot: str, cert_id: str) -> SlotCertificate:
    """Certificate ``cert_id`` of ``slot``; SlotCertificateNotFound otherwise."""
    for certificate in list_certificates(ctx, slot):
        if certificate.id == cert_id:
            return certificate
    raise SlotCertificateNotFound(f"slot {slot} has no certificate {cert_id!r}")
