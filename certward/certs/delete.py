"""Delete a certificate from a slot; a server slot gets a fresh self-signed one in its place."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from certward.ca.context import CAContext
from certward.ca.group_commit import TableRow
from certward.certs.certificates import SlotCertificate, slot_certificate_of
from certward.certs.change import apply_slot_change
from certward.certs.events import EventKind, record_event
from certward.certs.install import store_certificate_row
from certward.certs.render import slot_certificate_rows
from certward.certs.selfsigned import self_signed_identity
from certward.certs.slots import SlotKind, get_slot
from certward.certs.upload import Upload
from certward.errors import SlotCertificateNotFound
from certward.store.models import SlotCertificateRow

__all__ = ["delete_certificate"]


def delete_certificate(
    ctx: CAContext,
    slot: str,
    cert_id: str,
    *,
    actor: str | None,
    extra_rows: Sequence[TableRow] = (),
) -> SlotCertificate | None:
    """Remove certificate ``cert_id`` from ``slot`` (files, records), then reload.

    A server slot is never left empty: a self-signed EC P-384 certificate for the
    slot's host name (ten years) is installed in the same change and returned.
    """
    spec = get_slot(ctx, slot)

    def change(session: Session) -> SlotCertificateRow | None:
        rows = slot_certificate_rows(session, spec.name)
        row = next((r for r in rows if r.cert_id == cert_id), None)
        if row is None:
            raise SlotCertificateNotFound(f"slot {spec.name} has no certificate {cert_id!r}")
        session.delete(row)
        session.flush()
        now = ctx.clock()
        record_event(
            session,
            kind=EventKind.DELETED,
            slot=spec.name,
            certificate_id=cert_id,
            at=now,
            details={"actor": actor, "subject": row.subject},
        )
        if spec.kind is not SlotKind.SERVER:
            return None
        certificate, key = self_signed_identity(spec.host_name, now=now)
        upload = Upload(certificate=certificate, chain=(), key=key)
        fallback = store_certificate_row(ctx, session, spec, upload, key, actor=actor)
        record_event(
            session,
            kind=EventKind.INSTALLED,
            slot=spec.name,
            certificate_id=fallback.cert_id,
            at=now,
            details={"actor": actor, "subject": fallback.subject, "self_signed": True},
        )
        return fallback

    fallback = apply_slot_change(ctx, spec, change, label="deleted", extra_rows=extra_rows)
    return slot_certificate_of(fallback) if fallback is not None else None
