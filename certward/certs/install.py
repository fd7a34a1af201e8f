"""Install and replace certificates in a slot, in the reference's validation order.

Steps 1-4 (empty, parse, key match, chain) are in :mod:`certward.certs.upload`;
here the key is found (upload, else the slot's pending CSR key; on replace also
the current key), then steps 5-6: one certificate per server/client slot, the
authority limit and duplicates. Bad input changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy.orm import Session

from certward.ca.context import CAContext
from certward.ca.group_commit import TableRow
from certward.certs.certificates import SlotCertificate, certificate_id, slot_certificate_of
from certward.certs.change import apply_slot_change
from certward.certs.events import EventKind, record_event
from certward.certs.pending_keys import newest_pending_key, take_pending_key
from certward.certs.render import slot_certificate_rows, slot_key_record_id
from certward.certs.slots import SlotKind, SlotSpec, get_slot
from certward.certs.upload import Upload, check_chain, check_key_matches, parse_upload
from certward.crypto.keys import SigningKey, load_private_key, private_key_to_pkcs8
from certward.errors import (
    CertificateKeyMismatch,
    DuplicateCertificate,
    InvalidCertificate,
    SlotCertificateNotFound,
    SlotLimitReached,
    SlotNotAllowed,
)
from certward.store.models import SlotCertificateRow

__all__ = ["install_certificate", "replace_certificate", "store_certificate_row"]


def install_certificate(
    ctx: CAContext,
    slot: str,
    pem: bytes,
    *,
    actor: str | None,
    key_pem: bytes | None = None,
    password: bytes | None = None,
    extra_rows: Sequence[TableRow] = (),
) -> SlotCertificate:
    """Install the certificate in ``pem`` into ``slot`` (a new entry); returns it.

    Server and client slots take the private key from the upload (``pem`` or
    ``key_pem``, opened with ``password``), else from the slot's pending CSR key.
    Raises InvalidCertificate, CertificateKeyMismatch, SlotNotAllowed,
    SlotLimitReached, DuplicateCertificate; ReloadFailed after putting things back.
    """
    spec = get_slot(ctx, slot)
    upload = parse_upload(spec, pem, key_pem=key_pem, password=password)

    def change(session: Session) -> SlotCertificateRow:
        key = _key_for(ctx, session, spec, upload, current=None)
        _check_chain(ctx, session, spec, upload)
        rows = slot_certificate_rows(session, spec.name)
        _check_room(spec, rows, upload.certificate, replacing=None)
        row = store_certificate_row(ctx, session, spec, upload, key, actor=actor)
        record_event(
            session,
            kind=EventKind.INSTALLED,
            slot=spec.name,
            certificate_id=row.cert_id,
            at=ctx.clock(),
            details={"actor": actor, "subject": row.subject, "not_after": row.not_after},
        )
        return row

    row = apply_slot_change(ctx, spec, change, label="installed", extra_rows=extra_rows)
    return slot_certificate_of(row)


def replace_certificate(
    ctx: CAContext,
    slot: str,
    cert_id: str,
    pem: bytes,
    *,
    actor: str | None,
    key_pem: bytes | None = None,
    password: bytes | None = None,
    extra_rows: Sequence[TableRow] = (),
) -> SlotCertificate:
    """Replace certificate ``cert_id`` of ``slot`` with the one in ``pem``; returns the new one.

    As :func:`install_certificate`; without a key in the upload the pending CSR
    key or else the replaced certificate's key is used, whichever matches.
    """
    spec = get_slot(ctx, slot)
    upload = parse_upload(spec, pem, key_pem=key_pem, password=password)

    def change(session: Session) -> SlotCertificateRow:
        rows = slot_certificate_rows(session, spec.name)
        current = next((row for row in rows if row.cert_id == cert_id), None)
        if current is None:
            raise SlotCertificateNotFound(f"slot {spec.name} has no certificate {cert_id!r}")
        key = _key_for(ctx, session, spec, upload, current=current)
        _check_chain(ctx, session, spec, upload)
        _check_room(spec, rows, upload.certificate, replacing=current)
        previous = current.cert_id
        _fill_row(ctx, current, spec, upload, key, actor=actor)
        record_event(
            session,
            kind=EventKind.REPLACED,
            slot=spec.name,
            certificate_id=current.cert_id,
            at=ctx.clock(),
            details={"actor": actor, "previous_id": previous, "subject": current.subject},
        )
        return current

    row = apply_slot_change(ctx, spec, change, label="replaced", extra_rows=extra_rows)
    return slot_certificate_of(row)


def store_certificate_row(
    ctx: CAContext,
    session: Session,
    spec: SlotSpec,
    upload: Upload,
    key: SigningKey | None,
    *,
    actor: str | None,
) -> SlotCertificateRow:
    """Add a row for ``upload`` (and its sealed key) to ``session``."""
    row = SlotCertificateRow(slot=spec.name)
    _fill_row(ctx, row, spec, upload, key, actor=actor)
    session.add(row)
    session.flush()
    return row


def _fill_row(
    ctx: CAContext,
    row: SlotCertificateRow,
    spec: SlotSpec,
    upload: Upload,
    key: SigningKey | None,
    *,
    actor: str | None,
) -> None:
    certificate = upload.certificate
    chain = upload.chain if spec.holds_key else ()
    row.cert_id = certificate_id(certificate)
    row.pem = b"".join(c.public_bytes(Encoding.PEM) for c in (certificate, *chain)).decode()
    if key is not None:
        record = uuid.uuid4().hex
        row.key_record = record
        row.key_sealed = ctx.keystore.seal(
            private_key_to_pkcs8(key, pem=False), record_id=slot_key_record_id(record)
        )
    else:
        row.key_record = None
        row.key_sealed = None
    row.fingerprint = certificate.fingerprint(hashes.SHA256()).hex()
    row.subject = certificate.subject.rfc4514_string()
    row.issuer = certificate.issuer.rfc4514_string()
    row.serial = format(certificate.serial_number, "x")
    row.not_before = certificate.not_valid_before_utc
    row.not_after = certificate.not_valid_after_utc
    row.installed_at = ctx.clock()
    row.installed_by = actor


def _key_for(
    ctx: CAContext,
    session: Session,
    spec: SlotSpec,
    upload: Upload,
    *,
    current: SlotCertificateRow | None,
) -> SigningKey | None:
    """Steps 2-3: the key to install with the certificate, checked against it."""
    if not spec.holds_key:
        return None
    certificate = upload.certificate
    if upload.key is not None:
        check_key_matches(certificate, upload.key)
        return upload.key
    pending = take_pending_key(ctx, session, spec.name, certificate.public_key())
    if pending is not None:
        return pending.key
    if current is not None and current.key_sealed is not None and current.key_record:
        key = load_private_key(
            ctx.keystore.open(current.key_sealed, record_id=slot_key_record_id(current.key_record))
        )
        try:
            check_key_matches(certificate, key)
        except CertificateKeyMismatch:
            pass
        else:
            return key
    if newest_pending_key(ctx, session, spec.name) is not None or current is not None:
        raise CertificateKeyMismatch(
            "key mismatch: the certificate matches neither the slot's CSR key nor its current key"
        )
    raise InvalidCertificate(
        f"the upload has no private key and slot {spec.name} has no CSR key waiting"
    )


def _check_chain(ctx: CAContext, session: Session, spec: SlotSpec, upload: Upload) -> None:
    anchors: list[x509.Certificate] | None = None
    if spec.truststore is not None:
        get_slot(ctx, spec.truststore)  # SlotNotFound names it
        anchors = [
            x509.load_pem_x509_certificate(row.pem.encode("ascii"))
            for row in slot_certificate_rows(session, spec.truststore)
        ]
    check_chain(upload.certificate, upload.chain, anchors=anchors, truststore=spec.truststore)


def _check_room(
    spec: SlotSpec,
    rows: Sequence[SlotCertificateRow],
    certificate: x509.Certificate,
    *,
    replacing: SlotCertificateRow | None,
) -> None:
    """Steps 5-6: one certificate per server/client slot; authority limit and duplicates."""
    others = [row for row in rows if replacing is None or row.id != replacing.id]
    if spec.kind is not SlotKind.AUTHORITY:
        if others:
            raise SlotNotAllowed(
                f"Certificate already exist: slot {spec.name} holds one; replace it instead"
            )
        return
    fingerprint = certificate.fingerprint(hashes.SHA256()).hex()
    if any(row.fingerprint == fingerprint for row in others):
        raise DuplicateCertificate(f"slot {spec.name} already holds this certificate")
    if len(others) >= spec.max_certificates:
        raise SlotLimitReached(
            f"slot {spec.name} holds {len(others)} certificates, its limit is "
            f"{spec.max_certificates}"
        )
