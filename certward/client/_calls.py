"""Every API operation once: its method, path, query, body and how to read the answer.

Both clients send these descriptions; only the I/O differs between ``Client`` and
``AsyncClient``, so an operation is never written twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

import httpx

from certward.access.grants import Grant
from certward.ca.authority import CAInfo
from certward.ca.inventory import CertificateStatus
from certward.client import _decode as decode
from certward.client._results import (
    CACertificate,
    CAChain,
    Identity,
    Listing,
    PrincipalCredentials,
    PrincipalInfo,
    PublishedCRLInfo,
    RemoteAuditPage,
    RemoteCAInfo,
    RemoteCertificatePage,
    RemoteCertificateSummary,
    RemoteIssuedCertificate,
    RemotePrincipalInfo,
    RemoteRevokedCertificate,
    RevocationList,
    with_request_id,
)
from certward.crypto.formats import load_certificate, load_certificates, load_crl
from certward.crypto.keys import load_private_key

__all__ = [
    "Call",
    "audit",
    "ca_certificate",
    "ca_chain",
    "create_ca",
    "create_principal",
    "crl",
    "disable_principal",
    "get_ca",
    "get_certificate",
    "get_principal",
    "issue_certificate",
    "list_cas",
    "list_certificates",
    "list_principals",
    "publish_crl",
    "revoke_certificate",
    "sign_csr",
    "whoami",
]

T = TypeVar("T")
Reader = Callable[[httpx.Response, str], T]


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request to make and the reader that turns its 2xx answer into a value."""

    method: Literal["GET", "POST", "PUT", "DELETE"]
    path: str
    read: Reader[T]
    params: Mapping[str, str | int] = field(default_factory=dict)
    body: Mapping[str, Any] | None = None

    @property
    def idempotent(self) -> bool:
        """GETs change nothing, so a connection failure may be retried; POSTs never are."""
        return self.method == "GET"


def _segment(value: str) -> str:
    # One path segment, whatever it holds: '/' and '?' encoded, '.' and '..' kept from
    # being read as dot segments (the server then answers "no CA named '..'", not a 404).
    encoded = quote(value, safe="")
    return encoded.replace(".", "%2E") if encoded in (".", "..") else encoded


def _query(**values: str | int | datetime | None) -> dict[str, str | int]:
    query: dict[str, str | int] = {}
    for name, value in values.items():
        if isinstance(value, datetime):
            aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
            query[name] = aware.isoformat()
        elif value is not None:
            query[name] = value
    return query


def _json(response: httpx.Response) -> Any:
    return response.json()


def whoami() -> Call[Identity]:
    """GET /v1/whoami."""

    def read(response: httpx.Response, request_id: str) -> Identity:
        data = _json(response)
        return Identity(
            name=data["name"], grants=decode.grants(data["grants"]), request_id=request_id
        )

    return Call("GET", "/v1/whoami", read)


def _ca(response: httpx.Response, request_id: str) -> RemoteCAInfo:
    return with_request_id(RemoteCAInfo, decode.ca_info(_json(response)), request_id)


def list_cas() -> Call[Listing[CAInfo]]:
    """GET /v1/cas."""

    def read(response: httpx.Response, request_id: str) -> Listing[CAInfo]:
        items = tuple(decode.ca_info(item) for item in _json(response))
        return Listing(items=items, request_id=request_id)

    return Call("GET", "/v1/cas", read)


def get_ca(name: str) -> Call[RemoteCAInfo]:
    """GET /v1/cas/{name}."""
    return Call("GET", f"/v1/cas/{_segment(name)}", _ca)


def create_ca(
    *,
    name: str,
    subject: str,
    parent: str | None,
    key_type: str,
    days: int | None,
    path_length: int | None,
    permitted: Sequence[str],
    excluded: Sequence[str],
) -> Call[RemoteCAInfo]:
    """POST /v1/cas."""
    body = {
        "name": name,
        "subject": subject,
        "parent": parent,
        "key_type": str(key_type),
        "days": days,
        "path_length": path_length,
        "permitted": list(permitted),
        "excluded": list(excluded),
    }
    return Call("POST", "/v1/cas", _ca, body=body)


def ca_certificate(name: str) -> Call[CACertificate]:
    """GET /ca/{name}/ca.crt (public)."""

    def read(response: httpx.Response, request_id: str) -> CACertificate:
        return CACertificate(certificate=load_certificate(response.content), request_id=request_id)

    return Call("GET", f"/ca/{_segment(name)}/ca.crt", read)


def ca_chain(name: str) -> Call[CAChain]:
    """GET /ca/{name}/chain.pem (public)."""

    def read(response: httpx.Response, request_id: str) -> CAChain:
        certificates = tuple(load_certificates(response.content))
        return CAChain(certificates=certificates, request_id=request_id)

    return Call("GET", f"/ca/{_segment(name)}/chain.pem", read)


def crl(name: str) -> Call[RevocationList]:
    """GET /ca/{name}/crl (public, DER)."""

    def read(response: httpx.Response, request_id: str) -> RevocationList:
        return RevocationList(crl=load_crl(response.content), request_id=request_id)

    return Call("GET", f"/ca/{_segment(name)}/crl", read)


def publish_crl(name: str, *, days: int | None) -> Call[PublishedCRLInfo]:
    """POST /v1/cas/{name}/crl."""

    def read(response: httpx.Response, request_id: str) -> PublishedCRLInfo:
        data = _json(response)
        return PublishedCRLInfo(
            ca_name=data["ca"],
            number=data["crl_number"],
            this_update=decode.time(data["this_update"]),
            next_update=decode.time(data["next_update"]),
            entries=data["entries"],
            request_id=request_id,
        )

    return Call("POST", f"/v1/cas/{_segment(name)}/crl", read, body={"days": days})


def _issued(response: httpx.Response, request_id: str) -> RemoteIssuedCertificate:
    issued = decode.issued_certificate(_json(response))
    return with_request_id(RemoteIssuedCertificate, issued, request_id)


def issue_certificate(
    *,
    ca: str,
    profile: str,
    common_name: str,
    sans: Sequence[str],
    key_type: str,
    days: int | None,
) -> Call[RemoteIssuedCertificate]:
    """POST /v1/certificates."""
    body = {
        "ca": ca,
        "profile": profile,
        "common_name": common_name,
        "sans": list(sans),
        "key_type": str(key_type),
        "days": days,
    }
    return Call("POST", "/v1/certificates", _issued, body=body)


def sign_csr(
    *, ca: str, profile: str, csr_pem: str, days: int | None
) -> Call[RemoteIssuedCertificate]:
    """POST /v1/certificates/sign."""
    body = {"ca": ca, "profile": profile, "csr_pem": csr_pem, "days": days}
    return Call("POST", "/v1/certificates/sign", _issued, body=body)


def list_certificates(
    *,
    ca: str | None,
    status: CertificateStatus | str | None,
    expiring_before: datetime | None,
    search: str | None,
    limit: int,
    cursor: str | None,
) -> Call[RemoteCertificatePage]:
    """GET /v1/certificates with its filters."""

    def read(response: httpx.Response, request_id: str) -> RemoteCertificatePage:
        data = _json(response)
        return RemoteCertificatePage(
            items=tuple(decode.certificate_summary(item) for item in data["items"]),
            next_cursor=data["next_cursor"],
            request_id=request_id,
        )

    params = _query(
        ca=ca,
        status=None if status is None else str(status),
        expiring_before=expiring_before,
        search=search,
        limit=limit,
        cursor=cursor,
    )
    return Call("GET", "/v1/certificates", read, params=params)


def get_certificate(serial: str) -> Call[RemoteCertificateSummary]:
    """GET /v1/certificates/{serial}."""

    def read(response: httpx.Response, request_id: str) -> RemoteCertificateSummary:
        summary = decode.certificate_summary(_json(response))
        return with_request_id(RemoteCertificateSummary, summary, request_id)

    return Call("GET", f"/v1/certificates/{_segment(serial)}", read)


def revoke_certificate(
    serial: str, *, reason: str | None, wait_for_crl: bool
) -> Call[RemoteRevokedCertificate]:
    """POST /v1/certificates/{serial}/revoke[?wait_for_crl=true]."""

    def read(response: httpx.Response, request_id: str) -> RemoteRevokedCertificate:
        data = _json(response)
        revoked = decode.revoked_certificate(data)
        return with_request_id(
            RemoteRevokedCertificate, revoked, request_id, crl_number=data["crl_number"]
        )

    path = f"/v1/certificates/{_segment(serial)}/revoke"
    params: dict[str, str | int] = {"wait_for_crl": "true"} if wait_for_crl else {}
    return Call("POST", path, read, params=params, body={"reason": reason})


def create_principal(
    name: str, grants: Sequence[Grant], *, description: str, days: int | None
) -> Call[PrincipalCredentials]:
    """POST /v1/principals."""

    def read(response: httpx.Response, request_id: str) -> PrincipalCredentials:
        data = _json(response)
        chain = load_certificates(data["chain_pem"].encode())
        return PrincipalCredentials(
            principal=decode.principal_info(data["principal"]),
            certificate=load_certificate(data["certificate_pem"].encode()),
            chain=tuple(chain[1:]),
            private_key=load_private_key(data["private_key_pem"].encode()),
            pkcs12=decode.pkcs12_bytes(data),
            pkcs12_password=data["pkcs12_password"],
            request_id=request_id,
        )

    body = {
        "name": name,
        "grants": [grant.to_dict() for grant in grants],
        "description": description,
        "days": days,
    }
    return Call("POST", "/v1/principals", read, body=body)


def _principal(response: httpx.Response, request_id: str) -> RemotePrincipalInfo:
    return with_request_id(RemotePrincipalInfo, decode.principal_info(_json(response)), request_id)


def list_principals() -> Call[Listing[PrincipalInfo]]:
    """GET /v1/principals."""

    def read(response: httpx.Response, request_id: str) -> Listing[PrincipalInfo]:
        items = tuple(decode.principal_info(item) for item in _json(response))
        return Listing(items=items, request_id=request_id)

    return Call("GET", "/v1/principals", read)


def get_principal(name: str) -> Call[RemotePrincipalInfo]:
    """GET /v1/principals/{name}."""
    return Call("GET", f"/v1/principals/{_segment(name)}", _principal)


def disable_principal(name: str) -> Call[RemotePrincipalInfo]:
    """POST /v1/principals/{name}/disable."""
    return Call("POST", f"/v1/principals/{_segment(name)}/disable", _principal)


def audit(
    *,
    principal: str | None,
    action: str | None,
    target: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
) -> Call[RemoteAuditPage]:
    """GET /v1/audit with its filters."""

    def read(response: httpx.Response, request_id: str) -> RemoteAuditPage:
        data = _json(response)
        return RemoteAuditPage(
            items=tuple(decode.audit_event(item) for item in data["items"]),
            next_cursor=data["next_cursor"],
            request_id=request_id,
        )

    params = _query(
        principal=principal,
        action=action,
        target=target,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    return Call("GET", "/v1/audit", read, params=params)
