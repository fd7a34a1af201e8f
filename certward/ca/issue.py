"""Issuing end-entity certificates: with a key made here, or for a CSR.

Each call is one transaction: the certificate exists (and is returned) only
once the commit that stores it has returned. :func:`issue_many` pipelines many
certificates: it signs the next batch while a writer thread commits the last.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from sqlalchemy.orm import Session

from certward.ca.context import CAContext
from certward.ca.factory import CertificateFactory, IssuedCertificate, LeafRequest, with_chain
from certward.ca.group_commit import CERTIFICATES, GroupCommitWriter, TableRow, insert_rows
from certward.ca.profiles import with_public_urls
from certward.crypto.formats import load_csr
from certward.crypto.keys import KeyType, generate_private_key, key_type_of
from certward.crypto.names import format_san, has_control_characters, parse_sans
from certward.errors import CSRSignatureInvalid, InvalidSubject, MalformedData, StorageError

__all__ = [
    "BULK_BATCH_SIZE",
    "csr_request",
    "issue_certificate",
    "issue_many",
    "leaf_request",
    "sign_csr",
]

_log = structlog.get_logger()

BULK_BATCH_SIZE = 64
StoredHook = Callable[[Session, IssuedCertificate], None]


def leaf_request(
    *,
    common_name: str | None,
    sans: Sequence[str] = (),
    key_type: KeyType = KeyType.EC_P256,
    generate_key: bool = True,
) -> LeafRequest:
    """A request for a certificate with subject ``CN=common_name`` and the given SANs.

    With ``generate_key`` a fresh private key of ``key_type`` is made for it.
    """
    attributes = []
    if common_name is not None:
        if not common_name.strip() or len(common_name) > 64:
            raise InvalidSubject("the common name must be 1-64 characters")
        if has_control_characters(common_name):
            raise InvalidSubject("the common name must not contain control characters")
        attributes.append(x509.NameAttribute(x509.NameOID.COMMON_NAME, common_name.strip()))
    private_key = generate_private_key(key_type) if generate_key else None
    return LeafRequest(
        subject=x509.Name(attributes),
        sans=parse_sans(sans),
        key_type=key_type,
        private_key=private_key,
    )


def _factory(
    ctx: CAContext,
    session: Any,
    ca_name: str,
    profile_name: str,
    *,
    store_key: bool | None = None,
) -> CertificateFactory:
    profile = ctx.profiles.get(profile_name)
    if profile.is_ca:
        from certward.errors import PolicyViolation

        raise PolicyViolation("use 'ca create --parent' to make a CA certificate, not profile 'ca'")
    profile = with_public_urls(profile, ca_name=ca_name, base_url=ctx.settings.service.public_url)
    issuer = ctx.usable_issuer(session, ca_name)
    return CertificateFactory(
        issuer=issuer,
        profile=profile,
        keystore=ctx.keystore,
        store_keys=ctx.settings.store_issued_keys if store_key is None else store_key,
    )


def _issue_one(
    ctx: CAContext,
    *,
    ca_name: str,
    profile: str,
    request: LeafRequest,
    days: int | None,
    also: StoredHook | None = None,
    store_key: bool | None = None,
    writer: GroupCommitWriter | None = None,
    extra_rows: Sequence[TableRow] = (),
) -> IssuedCertificate:
    if writer is not None and also is None:
        # Checks and signing outside any write transaction; the row joins a shared commit.
        with ctx.database.read() as session:
            factory = _factory(ctx, session, ca_name, profile, store_key=store_key)
        factory.check(request)
        now = ctx.clock()
        not_before, not_after = factory.validity(now, days)
        issued, row = factory.make(
            request, not_before=not_before, not_after=not_after, issued_at=now
        )
        writer.store_all([(CERTIFICATES, row), *extra_rows])
    else:
        with ctx.database.transaction() as session:
            factory = _factory(ctx, session, ca_name, profile, store_key=store_key)
            factory.check(request)
            now = ctx.clock()
            not_before, not_after = factory.validity(now, days)
            issued, row = factory.make(
                request, not_before=not_before, not_after=not_after, issued_at=now
            )
            session.execute(CERTIFICATES.insert(), [row])
            insert_rows(session, extra_rows)
            if also is not None:
                also(session, issued)
    _log.info(
        "certificate.issued",
        serial=issued.serial,
        ca=ca_name,
        profile=profile,
        subject=row["subject"],
        key_generated=request.private_key is not None,
    )
    return with_chain([issued], factory.issuer.chain)[0]


def issue_certificate(
    ctx: CAContext,
    *,
    ca_name: str,
    profile: str,
    common_name: str | None,
    sans: Sequence[str] = (),
    key_type: KeyType = KeyType.EC_P256,
    days: int | None = None,
    also: StoredHook | None = None,
    store_key: bool | None = None,
    writer: GroupCommitWriter | None = None,
    extra_rows: Sequence[TableRow] = (),
) -> IssuedCertificate:
    """Issue a certificate with a private key generated here (returned, and kept sealed).

    ``also(session, issued)`` runs inside the issuing transaction, for records that
    must exist together with the certificate (a principal bound to it, say).
    ``store_key`` overrides the ``store_issued_keys`` setting for this certificate.
    ``writer`` stores it in a commit shared with concurrent callers; ``extra_rows``
    (an audit event, say) are stored in the same transaction as the certificate.
    """
    # Check the profile before spending time on an RSA key it would refuse anyway.
    ctx.profiles.get(profile).check_key_type(key_type)
    request = leaf_request(common_name=common_name, sans=sans, key_type=key_type)
    return _issue_one(
        ctx,
        ca_name=ca_name,
        profile=profile,
        request=request,
        days=days,
        also=also,
        store_key=store_key,
        writer=writer,
        extra_rows=extra_rows,
    )


def csr_request(csr_data: bytes) -> LeafRequest:
    """The request a PKCS#10 CSR makes, after checking its signature.

    The subject and the SANs come from the CSR; every other extension it asks
    for is ignored (the profile decides them), so a CSR cannot make itself a CA.
    """
    csr = load_csr(csr_data)
    try:
        public_key = csr.public_key()
        signature_valid = csr.is_signature_valid
    except (ValueError, UnsupportedAlgorithm):
        raise MalformedData("the CSR's public key or signature algorithm is not usable") from None
    if not signature_valid:
        raise CSRSignatureInvalid("the CSR's signature does not match its public key")
    key_type = key_type_of(public_key)
    try:
        san_ext = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        sans: tuple[x509.GeneralName, ...] = tuple(san_ext.value)
    except x509.ExtensionNotFound:
        sans = ()
    except ValueError as exc:
        raise MalformedData(f"the CSR's extensions could not be parsed: {exc}") from None
    # Re-parse every SAN through the same rules as typed ones: only DNS, IP, URI and
    # e-mail names, and only well-formed ones, reach a certificate.
    checked = parse_sans(format_san(san) for san in sans)
    return LeafRequest(subject=csr.subject, sans=checked, key_type=key_type, public_key=public_key)


def sign_csr(
    ctx: CAContext,
    *,
    ca_name: str,
    profile: str,
    csr_data: bytes,
    days: int | None = None,
    writer: GroupCommitWriter | None = None,
    extra_rows: Sequence[TableRow] = (),
    also: StoredHook | None = None,
) -> IssuedCertificate:
    """Issue a certificate for a PKCS#10 CSR (see :func:`csr_request` for what is kept).

    With ``writer`` the certificate is stored in a transaction shared with other
    concurrent callers (group commit); the call still returns only after it.
    ``extra_rows`` are stored in the same transaction as the certificate, and
    ``also(session, issued)`` runs inside it (not with ``writer``).
    """
    request = csr_request(csr_data)
    return _issue_one(
        ctx,
        ca_name=ca_name,
        profile=profile,
        request=request,
        days=days,
        also=also,
        writer=writer if also is None else None,
        extra_rows=extra_rows,
    )


class _BatchWriter(threading.Thread):
    """Commits batches of certificate rows on its own connection, in order."""

    def __init__(self, ctx: CAContext) -> None:
        super().__init__(name="certward-issue-writer", daemon=True)
        self._engine = ctx.database.engine
        self.batches: queue.Queue[list[dict[str, Any]] | None] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None
        self.committed = 0

    def run(self) -> None:
        try:
            with self._engine.connect() as connection:
                while (rows := self.batches.get()) is not None:
                    with connection.begin():
                        connection.execute(CERTIFICATES.insert(), rows)
                    self.committed += len(rows)
        except BaseException as exc:  # handed to the issuing thread, which raises it
            self.error = exc
            # Drain so the producer never blocks on a full queue after a failure.
            while self.batches.get() is not None:
                pass


def issue_many(
    ctx: CAContext,
    *,
    ca_name: str,
    profile: str,
    requests: Sequence[LeafRequest],
    days: int | None = None,
    batch_size: int = BULK_BATCH_SIZE,
) -> list[IssuedCertificate]:
    """Issue many certificates of one CA and profile; return once all are committed.

    Every request is checked against the profile before anything is signed, so
    a bad request stores nothing. Batches are committed in order; if a commit
    fails, StorageError is raised and the certificates of earlier batches stay
    issued (each batch is its own transaction).
    """
    with ctx.database.read() as session:
        factory = _factory(ctx, session, ca_name, profile)
    chain = factory.issuer.chain
    for request in requests:
        factory.check(request)
    now = ctx.clock()
    not_before, not_after = factory.validity(now, days)
    writer = _BatchWriter(ctx)
    writer.start()
    issued: list[IssuedCertificate] = []
    try:
        for start in range(0, len(requests), batch_size):
            rows = []
            for request in requests[start : start + batch_size]:
                certificate, row = factory.make(
                    request, not_before=not_before, not_after=not_after, issued_at=now
                )
                issued.append(certificate)
                rows.append(row)
            if writer.error is not None:
                break
            writer.batches.put(rows)
    finally:
        writer.batches.put(None)
        writer.join()
    if writer.error is not None:
        raise StorageError(
            f"bulk issuance stopped after {writer.committed} stored certificates: "
            f"{type(writer.error).__name__}"
        ) from writer.error
    _log.info("certificates.issued", count=len(issued), ca=ca_name, profile=profile)
    return with_chain(issued, chain)
