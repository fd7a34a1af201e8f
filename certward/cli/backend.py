"""Where the CA and certificate commands get their answers: a local data dir or a server.

Commands talk to a :class:`Backend` and render what it returns; they never know
which one they have. :class:`LocalBackend` calls the services on the data dir,
``certward.cli.remote.RemoteBackend`` calls the SDK. Both take and return the
same values, so a command prints the same text and ``--json`` either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from cryptography import x509

from certward.ca.authority import CAInfo, ca_chain, create_ca, get_ca, list_cas
from certward.ca.crl import PublishedCRL, latest_crl, publish_crl
from certward.ca.extensions import NameConstraintSpec
from certward.ca.factory import IssuedCertificate
from certward.ca.inventory import (
    CertificatePage,
    CertificateStatus,
    CertificateSummary,
    get_certificate,
    list_certificates,
)
from certward.ca.issue import issue_certificate, sign_csr
from certward.ca.revoke import RevokedCertificate, revoke_certificate
from certward.cli.kms_backend import KmsBackend, LocalKms
from certward.crypto.keys import KeyType
from certward.crypto.names import parse_subtrees

if TYPE_CHECKING:
    from certward.ca.context import CAContext

__all__ = ["Backend", "LocalBackend"]


class Backend(KmsBackend, Protocol):
    """The CA, certificate and KMS operations of the CLI, whatever answers them."""

    def list_cas(self) -> Sequence[CAInfo]:
        """Every CA."""
        ...

    def get_ca(self, name: str) -> CAInfo:
        """One CA."""
        ...

    def create_ca(
        self,
        *,
        name: str,
        subject: str,
        parent: str | None,
        key_type: KeyType,
        days: int | None,
        path_length: int | None,
        permitted: Sequence[str],
        excluded: Sequence[str],
    ) -> CAInfo:
        """Create a root or intermediate CA (permitted/excluded: name constraints)."""
        ...

    def ca_chain(self, name: str) -> Sequence[x509.Certificate]:
        """The CA certificate and every CA above it."""
        ...

    def latest_crl(self, name: str) -> x509.CertificateRevocationList:
        """The newest CRL of a CA."""
        ...

    def publish_crl(self, name: str, *, days: int | None) -> PublishedCRL:
        """Issue the next CRL of a CA."""
        ...

    def issue_certificate(
        self,
        *,
        ca: str,
        profile: str,
        common_name: str,
        sans: Sequence[str],
        key_type: KeyType,
        days: int | None,
    ) -> IssuedCertificate:
        """Issue a certificate with a freshly generated key (in ``private_key``)."""
        ...

    def sign_csr(
        self, *, ca: str, profile: str, csr_data: bytes, days: int | None
    ) -> IssuedCertificate:
        """Issue a certificate for a CSR (PEM or DER)."""
        ...

    def revoke_certificate(self, serial: str, *, reason: str | None) -> RevokedCertificate:
        """Revoke a certificate."""
        ...

    def list_certificates(
        self,
        *,
        ca: str | None,
        status: CertificateStatus | None,
        expiring_within: timedelta | None,
        search: str | None,
        limit: int,
        cursor: str | None,
    ) -> CertificatePage:
        """A page of the inventory, newest first."""
        ...

    def get_certificate(self, serial: str) -> CertificateSummary:
        """One certificate by serial."""
        ...

    def close(self) -> None:
        """Release what the backend holds (database pool, connections)."""
        ...


class LocalBackend(LocalKms):
    """The services of a local data dir (opened on first use)."""

    def __init__(self, context: Callable[[], CAContext]) -> None:
        self._context = context

    def list_cas(self) -> Sequence[CAInfo]:
        """Every CA."""
        return list_cas(self._context())

    def get_ca(self, name: str) -> CAInfo:
        """One CA."""
        return get_ca(self._context(), name)

    def create_ca(
        self,
        *,
        name: str,
        subject: str,
        parent: str | None,
        key_type: KeyType,
        days: int | None,
        path_length: int | None,
        permitted: Sequence[str],
        excluded: Sequence[str],
    ) -> CAInfo:
        """Create a root or intermediate CA."""
        constraints = None
        if permitted or excluded:
            constraints = NameConstraintSpec(
                permitted=parse_subtrees(permitted), excluded=parse_subtrees(excluded)
            )
        return create_ca(
            self._context(),
            name=name,
            subject=subject,
            parent=parent,
            key_type=key_type,
            days=days,
            path_length=path_length,
            name_constraints=constraints,
        )

    def ca_chain(self, name: str) -> Sequence[x509.Certificate]:
        """The CA certificate and every CA above it."""
        return ca_chain(self._context(), name)

    def latest_crl(self, name: str) -> x509.CertificateRevocationList:
        """The newest CRL of a CA."""
        return x509.load_der_x509_crl(latest_crl(self._context(), name).der)

    def publish_crl(self, name: str, *, days: int | None) -> PublishedCRL:
        """Issue the next CRL of a CA."""
        return publish_crl(self._context(), name, days=days)

    def issue_certificate(
        self,
        *,
        ca: str,
        profile: str,
        common_name: str,
        sans: Sequence[str],
        key_type: KeyType,
        days: int | None,
    ) -> IssuedCertificate:
        """Issue a certificate with a freshly generated key."""
        return issue_certificate(
            self._context(),
            ca_name=ca,
            profile=profile,
            common_name=common_name,
            sans=list(sans),
            key_type=key_type,
            days=days,
        )

    def sign_csr(
        self, *, ca: str, profile: str, csr_data: bytes, days: int | None
    ) -> IssuedCertificate:
        """Issue a certificate for a CSR."""
        return sign_csr(self._context(), ca_name=ca, profile=profile, csr_data=csr_data, days=days)

    def revoke_certificate(self, serial: str, *, reason: str | None) -> RevokedCertificate:
        """Revoke a certificate (its CA's next CRL lists it)."""
        return revoke_certificate(self._context(), serial, reason=reason)

    def list_certificates(
        self,
        *,
        ca: str | None,
        status: CertificateStatus | None,
        expiring_within: timedelta | None,
        search: str | None,
        limit: int,
        cursor: str | None,
    ) -> CertificatePage:
        """A page of the inventory, newest first."""
        return list_certificates(
            self._context(),
            ca_name=ca,
            status=status,
            expiring_within=expiring_within,
            search=search,
            limit=limit,
            cursor=cursor,
        )

    def get_certificate(self, serial: str) -> CertificateSummary:
        """One certificate by serial."""
        return get_certificate(self._context(), serial)

    def close(self) -> None:
        """Nothing to release: the CLI process ends with the command."""
