"""What the SDK's methods return: certward's own values, each with the request id of its exchange.

Two kinds, one rule (the top-level result of every call has ``request_id``):

* ``Remote<Value>`` *is* a certward value (``RemoteCAInfo`` is a ``CAInfo``) with one more
  keyword-only field, ``request_id``; code written for local values takes it unchanged.
* Where certward has no value for the answer (lists, cryptography objects, API-only shapes),
  a small frozen dataclass of the SDK's own holds it, with ``request_id`` beside.

Items inside a listing or page are plain values: the request id belongs to the exchange.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar, overload

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certward.access.audit import AuditPage
from certward.access.grants import Grant
from certward.ca.authority import CAInfo
from certward.ca.factory import IssuedCertificate
from certward.ca.inventory import CertificatePage, CertificateSummary
from certward.ca.revoke import RevokedCertificate
from certward.crypto.formats import certificate_pem, chain_pem
from certward.crypto.keys import SigningKey, private_key_to_pkcs8

__all__ = [
    "CACertificate",
    "CAChain",
    "Identity",
    "Listing",
    "PrincipalCredentials",
    "PrincipalInfo",
    "PublishedCRLInfo",
    "RemoteAuditPage",
    "RemoteCAInfo",
    "RemoteCertificatePage",
    "RemoteCertificateSummary",
    "RemoteIssuedCertificate",
    "RemotePrincipalInfo",
    "RemoteRevokedCertificate",
    "RevocationList",
    "with_request_id",
]

T = TypeVar("T")
R = TypeVar("R", bound="_Answered")


@dataclass(frozen=True, kw_only=True)
class _Answered:
    # The X-Request-ID of the HTTP exchange: the key to the server's logs and audit events.
    request_id: str


def with_request_id(cls: type[R], value: object, request_id: str, **extra: Any) -> R:
    """``cls`` (a ``Remote<Value>``) built from the fields of the plain ``value``."""
    assert dataclasses.is_dataclass(value) and not isinstance(value, type)
    fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.init}
    return cls(**fields, request_id=request_id, **extra)


@dataclass(frozen=True)
class Listing(_Answered, Generic[T]):
    """The items of one list call (iterable, sized, indexable)."""

    items: tuple[T, ...]

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[T, ...]: ...
    def __getitem__(self, index: int | slice) -> T | tuple[T, ...]:
        return self.items[index]


@dataclass(frozen=True)
class Identity(_Answered):
    """``whoami``: the principal the client certificate belongs to, and its grants."""

    name: str
    grants: tuple[Grant, ...]


@dataclass(frozen=True)
class RemoteCAInfo(CAInfo, _Answered):
    """A :class:`~certward.ca.authority.CAInfo` as a server answered it."""


@dataclass(frozen=True)
class CACertificate(_Answered):
    """A CA certificate from the public route ``/ca/{name}/ca.crt``."""

    certificate: x509.Certificate

    @property
    def pem(self) -> bytes:
        """The certificate as PEM."""
        return certificate_pem(self.certificate)


@dataclass(frozen=True)
class CAChain(_Answered):
    """A CA and every CA above it, root last (``/ca/{name}/chain.pem``)."""

    certificates: tuple[x509.Certificate, ...]

    @property
    def pem(self) -> bytes:
        """The chain as one PEM bundle."""
        return chain_pem(self.certificates)


@dataclass(frozen=True)
class RevocationList(_Answered):
    """The newest CRL of a CA (``/ca/{name}/crl``)."""

    crl: x509.CertificateRevocationList

    @property
    def number(self) -> int:
        """The CRL number."""
        return self.crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number

    @property
    def der(self) -> bytes:
        """The CRL as DER."""
        return self.crl.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class PublishedCRLInfo(_Answered):
    """A CRL the server just issued (fetch it with ``crl(name)``)."""

    ca_name: str
    number: int
    this_update: datetime
    next_update: datetime
    entries: int


@dataclass(frozen=True)
class RemoteIssuedCertificate(IssuedCertificate, _Answered):
    """An :class:`~certward.ca.factory.IssuedCertificate` (key parsed when the server made it)."""


@dataclass(frozen=True)
class RemoteCertificateSummary(CertificateSummary, _Answered):
    """A :class:`~certward.ca.inventory.CertificateSummary` as a server answered it."""


@dataclass(frozen=True)
class RemoteCertificatePage(CertificatePage, _Answered):
    """A :class:`~certward.ca.inventory.CertificatePage` as a server answered it."""


@dataclass(frozen=True)
class RemoteRevokedCertificate(RevokedCertificate, _Answered):
    """A :class:`~certward.ca.revoke.RevokedCertificate`, and the CRL that lists it.

    ``crl_number`` is None unless the call waited for the CRL (``wait_for_crl``):
    the server publishes it in the background.
    """

    crl_number: int | None = field(kw_only=True)


@dataclass(frozen=True)
class PrincipalInfo:
    """An API identity as the API shows it (it does not expose the certificate fingerprint)."""

    name: str
    description: str
    grants: tuple[Grant, ...]
    certificate_serial: str
    created_at: datetime
    created_by: str | None
    disabled_at: datetime | None

    @property
    def enabled(self) -> bool:
        """False once the principal was disabled."""
        return self.disabled_at is None


@dataclass(frozen=True)
class RemotePrincipalInfo(PrincipalInfo, _Answered):
    """A :class:`PrincipalInfo` answered by ``get_principal`` or ``disable_principal``."""


@dataclass(frozen=True)
class PrincipalCredentials(_Answered):
    """A new principal and its only credentials: key, certificate chain, PKCS#12 + password."""

    principal: PrincipalInfo
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    private_key: SigningKey = field(repr=False)
    pkcs12: bytes = field(repr=False)
    pkcs12_password: str = field(repr=False)

    @property
    def certificate_pem(self) -> bytes:
        """The certificate as PEM."""
        return certificate_pem(self.certificate)

    @property
    def chain_pem(self) -> bytes:
        """Certificate, then its CA chain up to the root (what a TLS client presents)."""
        return chain_pem((self.certificate, *self.chain))

    @property
    def private_key_pem(self) -> bytes:
        """The private key, unencrypted PKCS#8 PEM."""
        return private_key_to_pkcs8(self.private_key)


@dataclass(frozen=True)
class RemoteAuditPage(AuditPage, _Answered):
    """An :class:`~certward.access.audit.AuditPage` (each event has its own ``request_id``)."""
