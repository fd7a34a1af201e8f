"""Creating and describing certificate authorities (roots and intermediates)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from certward.ca.context import CAContext, ca_key_record_id
from certward.ca.crl import issue_crl_in_session
from certward.ca.extensions import NameConstraintSpec, ca_extensions
from certward.ca.factory import BACKDATE
from certward.ca.group_commit import TableRow, insert_rows
from certward.ca.lint import check_certificate
from certward.ca.publish import publish_ca_files
from certward.crypto.keys import (
    KeyType,
    generate_private_key,
    private_key_to_pkcs8,
    signature_hash_for,
)
from certward.crypto.names import common_name_of, parse_subject
from certward.crypto.serials import random_serial, serial_hex
from certward.errors import CAExists, InvalidInput, InvalidName, InvalidValidity, IssuerNotUsable
from certward.store.models import CertificateAuthorityRow, CertificateRow

_log = structlog.get_logger()

__all__ = ["CAInfo", "ca_chain", "create_ca", "get_ca", "list_cas", "validate_ca_name"]

_CA_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# The bound of the root_ca_days / intermediate_ca_days settings.
_MAX_CA_DAYS = 36500


@dataclass(frozen=True)
class CAInfo:
    """What certward knows about a CA."""

    name: str
    parent: str | None
    subject: str
    key_type: str
    serial: str
    not_before: datetime
    not_after: datetime
    path_length: int | None
    crl_number: int
    certificate_pem: bytes


def validate_ca_name(name: str) -> str:
    """``name`` if it is a valid CA name (letters, digits, . _ -; at most 64)."""
    if not _CA_NAME.fullmatch(name):
        raise InvalidName(
            f"CA name {name!r} is invalid: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def _info(session: Session, row: CertificateAuthorityRow) -> CAInfo:
    parent = session.get(CertificateAuthorityRow, row.parent_id) if row.parent_id else None
    certificate = x509.load_der_x509_certificate(row.certificate_der)
    return CAInfo(
        name=row.name,
        parent=parent.name if parent else None,
        subject=row.subject,
        key_type=row.key_type,
        serial=row.serial,
        not_before=row.not_before,
        not_after=row.not_after,
        path_length=row.path_length,
        crl_number=row.crl_number,
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM),
    )


def create_ca(
    ctx: CAContext,
    *,
    name: str,
    subject: str,
    parent: str | None = None,
    key_type: KeyType = KeyType.EC_P256,
    days: int | None = None,
    path_length: int | None = None,
    name_constraints: NameConstraintSpec | None = None,
    extra_rows: Sequence[TableRow] = (),
) -> CAInfo:
    """Create a root CA (no ``parent``) or an intermediate signed by ``parent``.

    Validity defaults to the configured root/intermediate days and is cut to the
    parent's own end date. The CA key is generated here and stored sealed; an
    empty CRL (number 1) is issued at once so CRL checking works from the start.
    """
    validate_ca_name(name)
    subject_name = parse_subject(subject)
    if path_length is not None and path_length < 0:
        raise InvalidInput(f"path length must be 0 or more, not {path_length}")
    if days is not None and not 1 <= days <= _MAX_CA_DAYS:
        raise InvalidValidity(f"CA validity must be 1-{_MAX_CA_DAYS} days, not {days}")
    key = generate_private_key(key_type)
    now = ctx.clock()
    with ctx.database.transaction() as session:
        if session.scalar(
            select(CertificateAuthorityRow.id).where(CertificateAuthorityRow.name == name)
        ):
            raise CAExists(f"a CA named {name!r} already exists")
        if parent is None:
            signer_key, issuer_name, issuer_key_id, parent_id = key, subject_name, None, None
            lifetime = days or ctx.settings.root_ca_days
            not_after = now + timedelta(days=lifetime)
        else:
            issuer = ctx.usable_issuer(session, parent)
            parent_row = ctx.ca_row(session, parent)
            if parent_row.path_length is not None:
                if parent_row.path_length == 0:
                    raise IssuerNotUsable(
                        f"CA {parent!r} has path length 0 and cannot sign another CA"
                    )
                if path_length is None or path_length >= parent_row.path_length:
                    path_length = parent_row.path_length - 1
            signer_key, issuer_name = issuer.key, issuer.subject
            issuer_key_id, parent_id = issuer.key_id, issuer.id
            lifetime = days or ctx.settings.intermediate_ca_days
            not_after = min(now + timedelta(days=lifetime), issuer.not_after)
        serial = random_serial()
        certificate = x509.CertificateBuilder(
            issuer_name=issuer_name,
            subject_name=subject_name,
            public_key=key.public_key(),
            serial_number=serial,
            not_valid_before=now - BACKDATE,
            not_valid_after=not_after,
            extensions=ca_extensions(
                public_key=key.public_key(),
                issuer_key_id=issuer_key_id,
                path_length=path_length,
                name_constraints=name_constraints,
            ),
        ).sign(signer_key, signature_hash_for(signer_key))
        check_certificate(
            certificate,
            is_ca=True,
            issuer_key_id=(
                issuer_key_id or x509.SubjectKeyIdentifier.from_public_key(key.public_key())
            ).digest,
            issuer_subject=issuer_name,
        )
        row = CertificateAuthorityRow(
            name=name,
            parent_id=parent_id,
            serial=serial_hex(serial),
            subject=subject_name.rfc4514_string(),
            key_type=key_type.value,
            key_sealed=ctx.keystore.seal(
                private_key_to_pkcs8(key, pem=False), record_id=ca_key_record_id(name)
            ),
            certificate_der=certificate.public_bytes(serialization.Encoding.DER),
            not_before=now - BACKDATE,
            not_after=not_after,
            path_length=path_length,
            crl_number=0,
            created_at=now,
        )
        session.add(row)
        try:
            session.flush()
        except IntegrityError:
            raise CAExists(f"a CA named {name!r} already exists") from None
        session.add(
            CertificateRow(
                serial=row.serial,
                ca_id=parent_id or row.id,
                profile="ca",
                is_ca=True,
                subject=row.subject,
                common_name=common_name_of(subject_name),
                sans="",
                key_type=key_type.value,
                fingerprint=certificate.fingerprint(hashes.SHA256()).hex(),
                not_before=row.not_before,
                not_after=not_after,
                issued_at=now,
                der=row.certificate_der,
            )
        )
        crl = issue_crl_in_session(ctx, session, row)
        insert_rows(session, extra_rows)
        info = _info(session, row)
        chain = ctx.chain_of(session, row)
    publish_ca_files(ctx, name=name, chain=chain, crl_der=crl.der)
    _log.info("ca.created", ca=name, parent=parent, subject=info.subject, serial=info.serial)
    return info


def list_cas(ctx: CAContext) -> list[CAInfo]:
    """Every CA, roots first, then by name."""
    with ctx.database.read() as session:
        rows = session.scalars(
            select(CertificateAuthorityRow).order_by(CertificateAuthorityRow.id)
        ).all()
        return [_info(session, row) for row in rows]


def get_ca(ctx: CAContext, name: str) -> CAInfo:
    """The CA called ``name``."""
    with ctx.database.read() as session:
        return _info(session, ctx.ca_row(session, name))


def ca_chain(ctx: CAContext, name: str) -> list[x509.Certificate]:
    """The certificates from CA ``name`` up to its root, in that order."""
    with ctx.database.read() as session:
        return list(ctx.chain_of(session, ctx.ca_row(session, name)))
