"""The stored private key of an issued certificate, opened for export.

Keys made by certward are kept sealed when ``store_issued_keys`` is on (the
default). Exporting one is an admin's action: the entry points check and audit it
(see :func:`certward.server.ca_calls.export_pkcs12_as`).
"""

from __future__ import annotations

from cryptography import x509
from sqlalchemy import select

from certward.ca.context import CAContext
from certward.ca.factory import certificate_key_record_id
from certward.crypto.keys import SigningKey, load_private_key
from certward.crypto.serials import parse_serial, serial_hex
from certward.errors import CertificateNotFound, NotFound
from certward.store.models import CertificateAuthorityRow, CertificateRow

__all__ = ["stored_private_key"]


def stored_private_key(
    ctx: CAContext, serial: str
) -> tuple[SigningKey, x509.Certificate, tuple[x509.Certificate, ...]]:
    """Key, certificate and issuer chain (issuing CA first) of the certificate ``serial``.

    NotFound when the certificate's key is not stored (issued for a CSR, or issued
    with ``store_issued_keys`` off).
    """
    canonical = serial_hex(parse_serial(serial))
    with ctx.database.read() as session:
        row = session.scalar(select(CertificateRow).where(CertificateRow.serial == canonical))
        if row is None:
            raise CertificateNotFound(f"no certificate with serial {canonical}")
        if row.key_sealed is None:
            raise NotFound(
                f"the private key of certificate {canonical} is not stored "
                "(it was issued for a CSR, or with store_issued_keys off)"
            )
        issuer = session.get(CertificateAuthorityRow, row.ca_id)
        assert issuer is not None  # foreign key
        chain = ctx.chain_of(session, issuer)
        sealed, der = row.key_sealed, row.der
    key = load_private_key(
        ctx.keystore.open(sealed, record_id=certificate_key_record_id(canonical))
    )
    return key, x509.load_der_x509_certificate(der), chain
