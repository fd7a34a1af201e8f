"""CRLs of a peers hash directory (``crl_enabled`` authority slots), swapped in while it runs.

Each new CRL gets the next free ``<issuer-hash>.rN``; earlier ones stay. OpenSSL's
hash-dir lookup (``by_dir.c``) remembers the first missing ``rN`` per hash and
only probes from there, so a long-running peer sees a new CRL only at a higher
number (seed 004: "N must be increased each time"); a fresh reader probes from
r0 and needs no gaps. Every ``rN`` of an issuer is rewritten with its newest CRL
(the rows keep the history), so no reader can settle on an old one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy.orm import Session

from certward.ca.context import CAContext
from certward.ca.group_commit import TableRow
from certward.ca.hashdir import crl_number, is_older_crl, same_crl_issuer
from certward.certs.change import apply_slot_change
from certward.certs.events import EventKind, record_event
from certward.certs.render import slot_certificate_rows, slot_crl_rows
from certward.certs.slots import SlotSpec, get_slot
from certward.crypto.formats import load_crl
from certward.crypto.subject_hash import crl_issuer_hash
from certward.errors import InvalidSlotCRL, MalformedData, SlotNotAllowed
from certward.store.models import SlotCRLRow

__all__ = ["SlotCRL", "install_crl", "list_crls"]


@dataclass(frozen=True)
class SlotCRL:
    """A CRL in a slot's hash directory."""

    slot: str
    file_name: str
    issuer: str
    crl_number: int | None
    this_update: datetime
    next_update: datetime | None
    installed_at: datetime


def install_crl(
    ctx: CAContext,
    slot: str,
    crl_pem_or_der: bytes,
    *,
    actor: str | None,
    extra_rows: Sequence[TableRow] = (),
) -> SlotCRL:
    """Validate a CRL and add it to the slot's hash directory as the next ``hash.rN``.

    It must be signed by a certificate of the slot, not expired, and its CRL
    number (else thisUpdate) must not go back; the same CRL again changes nothing.
    """
    spec = get_slot(ctx, slot)
    if not spec.crl_enabled:
        raise SlotNotAllowed(f"slot {spec.name} does not take CRLs (crl_enabled is off)")
    try:
        crl = load_crl(crl_pem_or_der)
    except MalformedData:
        raise InvalidSlotCRL("the upload is not a CRL (PEM or DER)") from None
    der = crl.public_bytes(Encoding.DER)

    def change(session: Session) -> SlotCRLRow:
        _check_issuer(session, spec, crl)
        next_update = crl.next_update_utc
        if next_update is not None and next_update <= ctx.clock():
            raise InvalidSlotCRL(f"the CRL expired at {next_update.isoformat()}")
        rows = slot_crl_rows(session, spec.name)
        previous = [row for row in rows if same_crl_issuer(x509.load_der_x509_crl(row.der), crl)]
        if previous:
            _check_not_older(x509.load_der_x509_crl(previous[-1].der), crl)
            if previous[-1].der == der:
                return previous[-1]
        name_hash = crl_issuer_hash(crl)
        taken = {row.file_name for row in rows}
        number = 0
        while f"{name_hash}.r{number}" in taken:
            number += 1
        row = SlotCRLRow(
            slot=spec.name,
            file_name=f"{name_hash}.r{number}",
            issuer=crl.issuer.rfc4514_string(),
            crl_number=str(n) if (n := crl_number(crl)) is not None else None,
            this_update=crl.last_update_utc,
            next_update=next_update,
            der=der,
            installed_at=ctx.clock(),
        )
        session.add(row)
        session.flush()
        record_event(
            session,
            kind=EventKind.CRL_UPDATED,
            slot=spec.name,
            certificate_id=None,
            at=ctx.clock(),
            details={
                "actor": actor,
                "file": row.file_name,
                "issuer": row.issuer,
                "crl_number": row.crl_number,
            },
        )
        return row

    row = apply_slot_change(ctx, spec, change, label="crl_updated", extra_rows=extra_rows)
    return _value(row)


def list_crls(ctx: CAContext, slot: str) -> list[SlotCRL]:
    """The CRLs of ``slot``, oldest first."""
    spec = get_slot(ctx, slot)
    with ctx.database.read() as session:
        return [_value(row) for row in slot_crl_rows(session, spec.name)]


def _value(row: SlotCRLRow) -> SlotCRL:
    return SlotCRL(
        slot=row.slot,
        file_name=row.file_name,
        issuer=row.issuer,
        crl_number=int(row.crl_number) if row.crl_number is not None else None,
        this_update=row.this_update,
        next_update=row.next_update,
        installed_at=row.installed_at,
    )


def _check_issuer(session: Session, spec: SlotSpec, crl: x509.CertificateRevocationList) -> None:
    named = [
        certificate
        for row in slot_certificate_rows(session, spec.name)
        if (certificate := x509.load_pem_x509_certificate(row.pem.encode("ascii"))).subject
        == crl.issuer
    ]
    if not named:
        raise InvalidSlotCRL(
            f"the CRL's issuer {crl.issuer.rfc4514_string()} is not a certificate of "
            f"slot {spec.name}"
        )
    if not any(_signed_by(crl, certificate) for certificate in named):
        raise InvalidSlotCRL("the CRL's signature does not verify with its issuer's key")


def _signed_by(crl: x509.CertificateRevocationList, certificate: x509.Certificate) -> bool:
    try:
        return crl.is_signature_valid(certificate.public_key())  # type: ignore[arg-type]
    except TypeError:
        return False


def _check_not_older(
    current: x509.CertificateRevocationList, new: x509.CertificateRevocationList
) -> None:
    new_number, current_number = crl_number(new), crl_number(current)
    same_number = new_number is not None and new_number == current_number
    if is_older_crl(new, current) or (
        same_number and new.public_bytes(Encoding.DER) != current.public_bytes(Encoding.DER)
    ):
        raise InvalidSlotCRL(
            f"the CRL (number {new_number}, thisUpdate {new.last_update_utc.isoformat()}) "
            f"does not follow the installed one (number {current_number})"
        )
