"""The CLI's remote mode: the same commands, answered by a certward server through the SDK."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certward.ca.authority import CAInfo
from certward.ca.crl import PublishedCRL
from certward.ca.factory import IssuedCertificate
from certward.ca.inventory import CertificatePage, CertificateStatus, CertificateSummary
from certward.ca.revoke import RevokedCertificate
from certward.client import Client
from certward.crypto.formats import load_csr
from certward.crypto.keys import KeyType
from certward.errors import Conflict

__all__ = ["RemoteBackend"]


class RemoteBackend:
    """The CLI's operations through :class:`certward.client.Client`."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def list_cas(self) -> Sequence[CAInfo]:
        """Every CA the identity may read."""
        return self._client.list_cas().items

    def get_ca(self, name: str) -> CAInfo:
        """One CA."""
        return self._client.get_ca(name)

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
        """Create a root or intermediate CA on the server."""
        return self._client.create_ca(
            name,
            subject=subject,
            parent=parent,
            key_type=key_type.value,
            days=days,
            path_length=path_length,
            permitted=permitted,
            excluded=excluded,
        )

    def ca_chain(self, name: str) -> Sequence[x509.Certificate]:
        """The CA certificate and every CA above it (public route)."""
        return self._client.ca_chain(name).certificates

    def latest_crl(self, name: str) -> x509.CertificateRevocationList:
        """The newest CRL of a CA (public route)."""
        return self._client.crl(name).crl

    def publish_crl(self, name: str, *, days: int | None) -> PublishedCRL:
        """Issue the next CRL on the server, then fetch it (the API answers without it)."""
        published = self._client.publish_crl(name, days=days)
        fetched = self._client.crl(name)
        if fetched.number != published.number:
            raise Conflict(
                f"CRL #{published.number} of {name} was replaced by #{fetched.number} "
                "before it could be fetched; run the command again"
            )
        return PublishedCRL(
            ca_name=published.ca_name,
            number=published.number,
            this_update=published.this_update,
            next_update=published.next_update,
            entries=published.entries,
            der=fetched.der,
        )

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
        """Issue a certificate; the server generates the key and returns it over TLS."""
        return self._client.issue_certificate(
            ca=ca,
            profile=profile,
            common_name=common_name,
            sans=sans,
            key_type=key_type.value,
            days=days,
        )

    def sign_csr(
        self, *, ca: str, profile: str, csr_data: bytes, days: int | None
    ) -> IssuedCertificate:
        """Issue a certificate for a CSR (a DER CSR is sent as PEM, as the API wants)."""
        if b"-----BEGIN" not in csr_data:
            csr_data = load_csr(csr_data).public_bytes(serialization.Encoding.PEM)
        return self._client.sign_csr(ca=ca, profile=profile, csr_pem=csr_data, days=days)

    def revoke_certificate(self, serial: str, *, reason: str | None) -> RevokedCertificate:
        """Revoke a certificate (the server also publishes its CA's CRL)."""
        return self._client.revoke_certificate(serial, reason=reason)

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
        expiring_before = None
        if expiring_within is not None:
            expiring_before = datetime.now(UTC) + expiring_within
        return self._client.list_certificates(
            ca=ca,
            status=status,
            expiring_before=expiring_before,
            search=search,
            limit=limit,
            cursor=cursor,
        )

    def get_certificate(self, serial: str) -> CertificateSummary:
        """One certificate by serial."""
        return self._client.get_certificate(serial)

    def close(self) -> None:
        """Close the connection to the server."""
        self._client.close()
