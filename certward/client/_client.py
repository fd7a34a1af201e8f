"""The synchronous client (``AsyncClient`` in ``_async_client.py`` mirrors it method for method)."""

from __future__ import annotations

import ssl
import time
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import httpx

from certward.access.grants import Grant
from certward.ca.authority import CAInfo
from certward.ca.inventory import CertificateStatus
from certward.client import _calls as calls
from certward.client._base import ClientBase
from certward.client._exchange import (
    answer,
    attempts_for,
    call_headers,
    failover_status,
    pause_after,
    transport_failure,
)
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
)
from certward.client._slot_client import SlotMethods

__all__ = ["Client"]

T = TypeVar("T")


class Client(ClientBase[httpx.Client], SlotMethods):
    """A certward server, reached over mutual TLS (arguments: see :class:`ClientBase`).

    ``Client(url, cert=..., key=..., ca=...)`` or ``Client.from_bundle(p12, password,
    url=...)``; use it as a context manager, or call :meth:`close`. The certificate
    slot methods (``list_slots``, ``install_slot_certificate``, ...) are in ``_slot_client.py``.
    """

    @staticmethod
    def _open(options: dict[str, Any]) -> httpx.Client:
        return httpx.Client(**options)

    def close(self) -> None:
        """Close the connections (the client cannot be used afterwards)."""
        for http in self._pool:
            http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _send(self, call: calls.Call[T]) -> T:
        request_id, headers = call_headers(call)
        servers = len(self._pool)
        attempts = attempts_for(self._retries, servers)
        attempt = 1
        while True:
            http = self._http
            request = http.build_request(
                call.method, call.path, params=call.params, json=call.body, headers=headers
            )
            try:
                response = http.send(request)
            except (httpx.TransportError, ssl.SSLError) as exc:
                failure = transport_failure(
                    exc,
                    call,
                    url=self.url,
                    request_id=request_id,
                    attempt=attempt,
                    attempts=attempts,
                )
                if failure is not None:
                    raise failure from exc
            else:
                if servers == 1 or attempt == attempts or not failover_status(response.status_code):
                    return answer(call, response, request_id)
                response.close()
            self._fail_over()
            time.sleep(pause_after(attempt, servers))
            attempt += 1

    # -- identity --------------------------------------------------------------

    def whoami(self) -> Identity:
        """The principal this client's certificate belongs to, and its grants."""
        return self._send(calls.whoami())

    # -- certificate authorities ----------------------------------------------

    def list_cas(self) -> Listing[CAInfo]:
        """Every CA the caller may read."""
        return self._send(calls.list_cas())

    def get_ca(self, name: str) -> RemoteCAInfo:
        """One CA."""
        return self._send(calls.get_ca(name))

    def create_ca(
        self,
        name: str,
        *,
        subject: str,
        parent: str | None = None,
        key_type: str = "ec-p256",
        days: int | None = None,
        path_length: int | None = None,
        permitted: Sequence[str] = (),
        excluded: Sequence[str] = (),
    ) -> RemoteCAInfo:
        """Create a root CA, or an intermediate under ``parent`` (admin only).

        permitted, excluded: name constraints such as ``DNS:example.com``.
        """
        return self._send(
            calls.create_ca(
                name=name,
                subject=subject,
                parent=parent,
                key_type=key_type,
                days=days,
                path_length=path_length,
                permitted=permitted,
                excluded=excluded,
            )
        )

    def ca_certificate(self, name: str) -> CACertificate:
        """The CA certificate (public route, no grant needed)."""
        return self._send(calls.ca_certificate(name))

    def ca_chain(self, name: str) -> CAChain:
        """The CA certificate and every CA above it, root last (public route)."""
        return self._send(calls.ca_chain(name))

    def crl(self, name: str) -> RevocationList:
        """The newest CRL of the CA (public route)."""
        return self._send(calls.crl(name))

    def publish_crl(self, name: str, *, days: int | None = None) -> PublishedCRLInfo:
        """Issue the next CRL of the CA now (needs ``ca.revoke`` on it)."""
        return self._send(calls.publish_crl(name, days=days))

    # -- certificates ----------------------------------------------------------

    def issue_certificate(
        self,
        *,
        ca: str,
        profile: str,
        common_name: str,
        sans: Sequence[str] = (),
        key_type: str = "ec-p256",
        days: int | None = None,
    ) -> RemoteIssuedCertificate:
        """Issue a certificate with a key the server generates (in ``private_key``).

        sans: ``DNS:x``, ``IP:1.2.3.4``, ``URI:u``, ``email:e``.
        """
        return self._send(
            calls.issue_certificate(
                ca=ca,
                profile=profile,
                common_name=common_name,
                sans=sans,
                key_type=key_type,
                days=days,
            )
        )

    def sign_csr(
        self, *, ca: str, profile: str, csr_pem: str | bytes, days: int | None = None
    ) -> RemoteIssuedCertificate:
        """Issue a certificate for a PKCS#10 CSR (PEM)."""
        text = csr_pem.decode("ascii", "replace") if isinstance(csr_pem, bytes) else csr_pem
        return self._send(calls.sign_csr(ca=ca, profile=profile, csr_pem=text, days=days))

    def list_certificates(
        self,
        *,
        ca: str | None = None,
        status: CertificateStatus | str | None = None,
        expiring_before: datetime | None = None,
        search: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> RemoteCertificatePage:
        """A page of the inventory, newest first; pass ``next_cursor`` for the next page.

        status: ``valid``, ``revoked`` or ``expired``.
        expiring_before: only valid certificates ending before this time.
        search: text in the subject or SANs, or a serial.
        """
        return self._send(
            calls.list_certificates(
                ca=ca,
                status=status,
                expiring_before=expiring_before,
                search=search,
                limit=limit,
                cursor=cursor,
            )
        )

    def get_certificate(self, serial: str) -> RemoteCertificateSummary:
        """One certificate by serial (hex)."""
        return self._send(calls.get_certificate(serial))

    def revoke_certificate(
        self, serial: str, *, reason: str | None = None, wait_for_crl: bool = False
    ) -> RemoteRevokedCertificate:
        """Revoke a certificate; the server publishes its CA's next CRL at once, in the background.

        reason: an RFC 5280 name such as ``keyCompromise`` or ``superseded``.
        wait_for_crl: answer only once a published CRL lists it (its number is in
        ``crl_number``; None if the server gave up waiting after a minute).
        """
        return self._send(
            calls.revoke_certificate(serial, reason=reason, wait_for_crl=wait_for_crl)
        )

    # -- principals and audit --------------------------------------------------

    def create_principal(
        self,
        name: str,
        grants: Sequence[Grant],
        *,
        description: str = "",
        days: int | None = None,
    ) -> PrincipalCredentials:
        """Create an API identity; the answer holds its only key and PKCS#12 password."""
        return self._send(calls.create_principal(name, grants, description=description, days=days))

    def list_principals(self) -> Listing[PrincipalInfo]:
        """Every principal (admin only)."""
        return self._send(calls.list_principals())

    def get_principal(self, name: str) -> RemotePrincipalInfo:
        """One principal (admin only)."""
        return self._send(calls.get_principal(name))

    def disable_principal(self, name: str) -> RemotePrincipalInfo:
        """Disable a principal: its certificate is revoked and refused from the next handshake."""
        return self._send(calls.disable_principal(name))

    def audit(
        self,
        *,
        principal: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> RemoteAuditPage:
        """Audit events, newest first, filtered; pass ``next_cursor`` for the next page."""
        return self._send(
            calls.audit(
                principal=principal,
                action=action,
                target=target,
                since=since,
                until=until,
                limit=limit,
                cursor=cursor,
            )
        )
