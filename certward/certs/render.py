"""The files a slot's rows call for (see ``slot_files`` for how they reach the disk)."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select
from sqlalchemy.orm import Session

from certward.ca.context import CAContext
from certward.ca.hashdir import same_crl_issuer
from certward.certs.slot_files import SlotFile
from certward.certs.slots import SlotKind, SlotSpec
from certward.crypto.keys import load_private_key, private_key_to_pkcs8
from certward.crypto.subject_hash import certificate_subject_hash
from certward.store.models import SlotCertificateRow, SlotCRLRow

__all__ = ["slot_certificate_rows", "slot_crl_rows", "slot_files_from_rows", "slot_key_record_id"]


def slot_key_record_id(record: str) -> str:
    """The associated data that binds a sealed slot key to its row."""
    return f"slot-key:{record}"


def slot_certificate_rows(session: Session, slot: str) -> list[SlotCertificateRow]:
    """The certificates of ``slot`` in install order (hash link numbers follow it)."""
    query = select(SlotCertificateRow).where(SlotCertificateRow.slot == slot)
    return list(session.scalars(query.order_by(SlotCertificateRow.id)).all())


def slot_crl_rows(session: Session, slot: str) -> list[SlotCRLRow]:
    """The CRLs of ``slot`` in install order."""
    query = select(SlotCRLRow).where(SlotCRLRow.slot == slot)
    return list(session.scalars(query.order_by(SlotCRLRow.id)).all())


def slot_files_from_rows(
    ctx: CAContext,
    spec: SlotSpec,
    certificates: Sequence[SlotCertificateRow],
    crls: Sequence[SlotCRLRow] = (),
) -> dict[str, SlotFile]:
    """The managed files of ``spec``'s directory for these rows."""
    if spec.kind is not SlotKind.AUTHORITY:
        return _identity_files(ctx, spec, certificates)
    files: dict[str, SlotFile] = {}
    numbers: dict[str, int] = {}
    for row in certificates:
        pem = x509.load_pem_x509_certificate(row.pem.encode("ascii")).public_bytes(Encoding.PEM)
        name_hash = certificate_subject_hash(x509.load_pem_x509_certificate(pem))
        number = numbers.get(name_hash, 0)
        numbers[name_hash] = number + 1
        link = f"{name_hash}.{number}"
        if spec.lookup_hash_directory:
            files[link] = SlotFile(data=pem, mode=spec.mode_file)
        else:
            own = f"{row.cert_id}.pem"
            files[own] = SlotFile(data=pem, mode=spec.mode_file)
            files[link] = SlotFile(link_to=own)
    if spec.lookup_hash_directory:
        files.update(_crl_files(spec, crls))
    return files


def _crl_files(spec: SlotSpec, crls: Sequence[SlotCRLRow]) -> dict[str, SlotFile]:
    """Every ``hash.rN`` of an issuer holds that issuer's newest CRL.

    A fresh reader loads r0, r1, … and must not pick an older CRL that ties on
    thisUpdate; a long-running one loads only the new number. See certs/crl.py.
    """
    loaded = [(row, x509.load_der_x509_crl(row.der)) for row in crls]
    files: dict[str, SlotFile] = {}
    for row, crl in loaded:
        newest = max(
            (other for other in loaded if same_crl_issuer(other[1], crl)),
            key=lambda pair: pair[0].id,
        )[1]
        files[row.file_name] = SlotFile(data=newest.public_bytes(Encoding.PEM), mode=spec.mode_file)
    return files


def _identity_files(
    ctx: CAContext, spec: SlotSpec, certificates: Sequence[SlotCertificateRow]
) -> dict[str, SlotFile]:
    if not certificates:
        return {}
    row = certificates[-1]
    assert row.key_sealed is not None and row.key_record is not None
    key = load_private_key(
        ctx.keystore.open(row.key_sealed, record_id=slot_key_record_id(row.key_record))
    )
    return {
        spec.cert_file: SlotFile(data=row.pem.encode("ascii"), mode=spec.mode_file),
        spec.key_file: SlotFile(data=private_key_to_pkcs8(key), mode=spec.mode_file),
    }
