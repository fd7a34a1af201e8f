"""Building end-entity certificates and their database rows, fast.

A :class:`CertificateFactory` is made once per (CA, profile) with every value
that does not change between certificates already built; making one
certificate is then one CertificateBuilder call and one signature. This is the
issuance hot path: keep the ORM and re-parsing out of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from certward.ca.context import LoadedCA
from certward.ca.extensions import LeafExtensions
from certward.ca.lint import CertificateLinter
from certward.ca.profiles import Profile
from certward.crypto.keys import KeyType, SigningKey, private_key_to_pkcs8
from certward.crypto.names import common_name_of, san_strings
from certward.crypto.serials import random_serial, serial_hex
from certward.keystore import Keystore

__all__ = ["CertificateFactory", "IssuedCertificate", "LeafRequest", "certificate_key_record_id"]

_SHA256 = hashes.SHA256()
_DER = serialization.Encoding.DER
# Back-dating guards relying parties whose clocks run slightly behind.
BACKDATE = timedelta(minutes=1)


def certificate_key_record_id(serial: str) -> str:
    """The associated data binding a sealed end-entity key to its certificate."""
    return f"certificate-key:{serial}"


@dataclass(frozen=True)
class LeafRequest:
    """One certificate to issue: subject, SANs and either a public key or a key type."""

    subject: x509.Name
    sans: tuple[x509.GeneralName, ...]
    key_type: KeyType
    public_key: CertificatePublicKeyTypes | None = None
    private_key: SigningKey | None = field(default=None, repr=False)


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate certward issued, with its chain and (for server-side keys) its key."""

    serial: str
    ca_name: str
    profile: str
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    private_key: SigningKey | None = field(default=None, repr=False)

    @property
    def not_after(self) -> datetime:
        """End of validity (aware UTC)."""
        return self.certificate.not_valid_after_utc

    @property
    def not_before(self) -> datetime:
        """Start of validity (aware UTC)."""
        return self.certificate.not_valid_before_utc

    @property
    def sans(self) -> tuple[x509.GeneralName, ...]:
        """The subject alternative names of the certificate."""
        try:
            extension = self.certificate.extensions.get_extension_for_class(
                x509.SubjectAlternativeName
            )
        except x509.ExtensionNotFound:
            return ()
        return tuple(extension.value)

    @property
    def certificate_pem(self) -> bytes:
        """The certificate as PEM."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def full_chain(self) -> tuple[x509.Certificate, ...]:
        """The certificate followed by its issuing CAs up to the root."""
        return (self.certificate, *self.chain)


class CertificateFactory:
    """Makes certificates of one CA and profile, and the rows that store them."""

    def __init__(
        self, *, issuer: LoadedCA, profile: Profile, keystore: Keystore, store_keys: bool
    ) -> None:
        self.issuer = issuer
        self.profile = profile
        self._keystore = keystore
        self._store_keys = store_keys
        self._extensions = LeafExtensions(profile=profile, issuer_key_id=issuer.key_id)
        # Lint-before-return (ca/lint.py): every certificate is checked before it is stored.
        self._lint = CertificateLinter(
            is_ca=False,
            expected_ekus=profile.ext_key_usages or None,
            issuer_key_id=issuer.key_id.digest,
            issuer_subject=issuer.subject,
        )

    def validity(self, now: datetime, days: int | None) -> tuple[datetime, datetime]:
        """(not_before, not_after) for ``days`` under the profile, cut to the CA's own end."""
        lifetime = self.profile.validity_days(days)
        return now - BACKDATE, min(now + timedelta(days=lifetime), self.issuer.not_after)

    def check(self, request: LeafRequest) -> None:
        """Refuse a request the profile does not allow (key type, subject, SANs)."""
        self.profile.check_key_type(request.key_type)
        self.profile.check_request(request.subject, request.sans)

    def make(
        self,
        request: LeafRequest,
        *,
        not_before: datetime,
        not_after: datetime,
        issued_at: datetime,
    ) -> tuple[IssuedCertificate, dict[str, Any]]:
        """Sign one certificate; return it and the ``certificates`` row that stores it."""
        private_key = request.private_key
        public_key = request.public_key
        if public_key is None:
            assert private_key is not None
            public_key = private_key.public_key()
        serial = random_serial()
        issuer = self.issuer
        certificate = x509.CertificateBuilder(
            issuer_name=issuer.subject,
            subject_name=request.subject,
            public_key=public_key,
            serial_number=serial,
            not_valid_before=not_before,
            not_valid_after=not_after,
            extensions=self._extensions.for_certificate(
                public_key=public_key,
                sans=request.sans,
                subject_is_empty=len(request.subject) == 0,
            ),
        ).sign(issuer.key, issuer.hash_algorithm)
        der = certificate.public_bytes(_DER)
        self._lint.check_issued(
            certificate,
            der,
            public_key=public_key,
            subject=request.subject,
            sans=request.sans,
            serial=serial,
            not_before=not_before,
            not_after=not_after,
        )
        serial_text = serial_hex(serial)
        key_sealed = None
        if private_key is not None and self._store_keys:
            key_sealed = self._keystore.seal(
                private_key_to_pkcs8(private_key, pem=False),
                record_id=certificate_key_record_id(serial_text),
            )
        sans = san_strings(request.sans)
        row = {
            "serial": serial_text,
            "ca_id": issuer.id,
            "profile": self.profile.name,
            "is_ca": False,
            "subject": request.subject.rfc4514_string(),
            "common_name": common_name_of(request.subject),
            "sans": " ".join(sans),
            "key_type": request.key_type.value,
            "fingerprint": certificate.fingerprint(_SHA256).hex(),
            "not_before": not_before,
            "not_after": not_after,
            "issued_at": issued_at,
            "der": der,
            "key_sealed": key_sealed,
        }
        issued = IssuedCertificate(
            serial=serial_text,
            ca_name=issuer.name,
            profile=self.profile.name,
            certificate=certificate,
            chain=(),
            private_key=private_key,
        )
        return issued, row


def with_chain(
    issued: Sequence[IssuedCertificate], chain: tuple[x509.Certificate, ...]
) -> list[IssuedCertificate]:
    """The same certificates with their CA chain attached."""
    return [replace(item, chain=chain) for item in issued]
