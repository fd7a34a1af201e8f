"""The CLI's remote mode: the same commands, answered by a certward server through the SDK."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certward.access.audit import AuditPage
from certward.ca.authority import CAInfo
from certward.ca.crl import PublishedCRL
from certward.ca.factory import IssuedCertificate
from certward.ca.inventory import CertificatePage, CertificateStatus, CertificateSummary
from certward.ca.revoke import RevokedCertificate
from certward.client import AccessPointCredentials, KmsClient
from certward.crypto.formats import load_csr
from certward.crypto.keys import KeyType
from certward.errors import Conflict
from certward.kms.aliases import Alias
from certward.kms.keys import KeyInfo, KeyPage
from certward.kms.operations import (
    DataKey,
    Decrypted,
    Encrypted,
    PublicKey,
    Signature,
    Verification,
)
from certward.kms.specs import KeyOrigin, KeySpec, KeyUsage

__all__ = ["RemoteBackend"]


class RemoteBackend:
    """The CLI's operations through the SDK (a :class:`certward.client.KmsClient`)."""

    def __init__(self, client: KmsClient) -> None:
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
        """Revoke a certificate; answers once the server published a CRL listing it."""
        return self._client.revoke_certificate(serial, reason=reason, wait_for_crl=True)

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

    # -- KMS (certward.cli.kms_backend.KmsBackend) ---------------------------------------

    def kms_create_key(
        self,
        *,
        spec: KeySpec,
        usage: KeyUsage,
        description: str,
        tags: Mapping[str, str] | None,
        alias: str | None,
        rotation_period_days: int | None,
        origin: KeyOrigin,
    ) -> KeyInfo:
        """Create a key on the server."""
        return self._client.create_key(
            spec=spec.value,
            usage=usage.value,
            description=description or None,
            tags=tags,
            alias=alias,
            rotation_period_days=rotation_period_days,
            origin=origin.value,
        )

    def kms_list_keys(self, *, limit: int, cursor: str | None) -> KeyPage:
        """A page of keys, newest first."""
        return self._client.list_keys(limit=limit, cursor=cursor)

    def kms_describe_key(self, ref: str) -> KeyInfo:
        """One key."""
        return self._client.describe_key(ref)

    def kms_rotate_key(self, ref: str) -> KeyInfo:
        """A new primary version."""
        return self._client.rotate_key(ref)

    def kms_enable_key(self, ref: str) -> KeyInfo:
        """Enable a key."""
        return self._client.enable_key(ref)

    def kms_disable_key(self, ref: str) -> KeyInfo:
        """Disable a key."""
        return self._client.disable_key(ref)

    def kms_schedule_key_deletion(self, ref: str, *, pending_window_days: int | None) -> KeyInfo:
        """Schedule the deletion of a key."""
        return self._client.schedule_key_deletion(ref, pending_window_days=pending_window_days)

    def kms_cancel_key_deletion(self, ref: str) -> KeyInfo:
        """Cancel a scheduled deletion."""
        return self._client.cancel_key_deletion(ref)

    def kms_update_key_settings(
        self,
        ref: str,
        *,
        description: str | None,
        tags: Mapping[str, str] | None,
        rotation_period_days: int | None,
        min_decryption_version: int | None,
    ) -> KeyInfo:
        """Change the settings given (None: unchanged; rotation 0: off)."""
        return self._client.update_key_settings(
            ref,
            description=description,
            tags=tags,
            rotation_period_days=rotation_period_days,
            min_decryption_version=min_decryption_version,
        )

    def kms_create_alias(self, alias: str, ref: str) -> Alias:
        """Point an alias at a key."""
        return self._client.create_alias(alias, ref)

    def kms_delete_alias(self, alias: str) -> Alias:
        """Remove an alias."""
        return self._client.delete_alias(alias)

    def kms_key_usage(self, ref: str, *, limit: int, cursor: str | None) -> AuditPage:
        """The audit events of a key, newest first."""
        return self._client.key_usage(ref, limit=limit, cursor=cursor)

    def kms_get_public_key(self, ref: str, *, version: int | None) -> PublicKey:
        """The public key of a version (default: primary)."""
        return self._client.get_public_key(ref, version=version)

    def kms_import_public_key(
        self, pem: bytes, *, usage: KeyUsage, alias: str | None, description: str
    ) -> KeyInfo:
        """A PUBLIC_ONLY key of a public key."""
        return self._client.import_public_key(
            pem, usage=usage.value, alias=alias, description=description or None
        )

    def kms_sign(
        self, ref: str, *, algorithm: str, message: bytes | None, digest: bytes | None
    ) -> Signature:
        """Sign a message or a digest."""
        return self._client.sign(ref, algorithm=algorithm, message=message, digest=digest)

    def kms_verify(
        self,
        ref: str,
        *,
        algorithm: str,
        message: bytes | None,
        digest: bytes | None,
        signature: bytes,
        key_version: int | None,
    ) -> Verification:
        """Check a signature."""
        return self._client.verify(
            ref,
            signature=signature,
            algorithm=algorithm,
            message=message,
            digest=digest,
            key_version=key_version,
        )

    def kms_encrypt(
        self,
        ref: str,
        *,
        plaintext: bytes,
        context: Mapping[str, str] | None,
        algorithm: str | None,
    ) -> Encrypted:
        """Encrypt into a ciphertext blob."""
        return self._client.encrypt(ref, plaintext=plaintext, context=context, algorithm=algorithm)

    def kms_decrypt(
        self, ciphertext: bytes, *, context: Mapping[str, str] | None, key: str | None
    ) -> Decrypted:
        """Decrypt a ciphertext blob (of ``key`` only, when given)."""
        return self._client.decrypt(ciphertext, context=context, key_id=key)

    def kms_generate_data_key(
        self,
        ref: str,
        *,
        key_spec: str | None,
        number_of_bytes: int | None,
        context: Mapping[str, str] | None,
        include_plaintext: bool,
    ) -> DataKey:
        """A data key, wrapped (and in clear when asked)."""
        return self._client.generate_data_key(
            ref,
            key_spec=key_spec,
            number_of_bytes=number_of_bytes,
            context=context,
            include_plaintext=include_plaintext,
        )

    def kms_generate_random(self, number_of_bytes: int) -> bytes:
        """Random bytes."""
        return self._client.generate_random(number_of_bytes).random

    def kms_create_access_point(
        self,
        name: str,
        *,
        keys: Sequence[str],
        operations: Sequence[str],
        description: str | None,
        days: int | None,
    ) -> AccessPointCredentials:
        """A principal limited to ``operations`` on ``keys``, and its credentials."""
        return self._client.create_access_point(
            name, keys=keys, operations=operations, description=description, days=days
        )
