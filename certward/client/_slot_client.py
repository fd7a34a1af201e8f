"""The slot methods of ``Client``: certificate slots of services, their CRLs and CSR jobs.

A mixin, so ``_client.py`` stays one idea; ``_async_slot_client.py`` mirrors it method
for method. Every route needs ``certs.manage`` on the slot; adding and removing a slot
needs ``admin`` (its reload action runs commands on the server).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TypeVar

from cryptography import x509

from certward.certs.certificates import SlotCertificate
from certward.certs.crl import SlotCRL
from certward.certs.slots import SlotSpec
from certward.client import _slot_calls as calls
from certward.client._calls import Call
from certward.client._results import Listing
from certward.client._slot_results import (
    RemoteCSRJob,
    RemoteSlot,
    RemoteSlotCertificate,
    RemoteSlotCRL,
    RemoteSlotDeletion,
    RemoteSlotRemoval,
)
from certward.client._tls import StrPath

__all__ = ["DEFAULT_POLL_INTERVAL", "SlotMethods"]

T = TypeVar("T")
# Between two looks at a CSR job: an EC key and its CSR take milliseconds, RSA 4096 seconds.
DEFAULT_POLL_INTERVAL = 0.25


class SlotMethods(ABC):
    """Certificate slots (``/v1/slots``) and CSR jobs (``/v1/jobs``), for ``Client``."""

    @abstractmethod
    def _send(self, call: Call[T]) -> T:
        """Send one call (``Client._send``)."""

    # -- slots -------------------------------------------------------------------------

    def list_slots(self) -> Listing[SlotSpec]:
        """Every slot the caller may manage."""
        return self._send(calls.list_slots())

    def get_slot(self, name: str) -> RemoteSlot:
        """One slot, by its name ``kind/label`` (e.g. ``server/https``)."""
        return self._send(calls.get_slot(name))

    def add_slot(
        self,
        name: str,
        *,
        directory: StrPath,
        cert_file: str | None = None,
        key_file: str | None = None,
        mode_dir: int | None = None,
        mode_file: int | None = None,
        owner: str | None = None,
        key_types: Sequence[str] | None = None,
        max_certificates: int | None = None,
        lookup_hash_directory: bool | None = None,
        crl_enabled: bool | None = None,
        host_name: str | None = None,
        truststore: str | None = None,
        reload_command: Sequence[str] | None = None,
        reload_pid_file: StrPath | None = None,
        reload_signal: str | None = None,
        reload_url: str | None = None,
        reload_timeout: float | None = None,
    ) -> RemoteSlot:
        """Create a slot (admin only); an option left as None takes the server's default.

        name: ``server/<label>``, ``client/<label>`` or ``authority/<label>``.
        directory: where the slot's files go, on the server's machine.
        cert_file, key_file, mode_dir, mode_file, owner: the files (``cert.pem``,
            ``key.pem``, 0o700, 0o400, the server's user).
        key_types: ``RSA`` and/or ``EC`` (default both).
        max_certificates, lookup_hash_directory, crl_enabled, truststore: authority
            slots (10; an OpenSSL CApath; CRLs in it; the authority slot uploads must
            chain to).
        host_name: the CN of a server slot's self-signed fallback.
        reload_command | reload_pid_file (+ reload_signal, SIGHUP) | reload_url: how the
            service picks up a change (at most one); reload_timeout in seconds (30).
        """
        return self._send(
            calls.add_slot(
                name,
                directory=directory,
                cert_file=cert_file,
                key_file=key_file,
                mode_dir=mode_dir,
                mode_file=mode_file,
                owner=owner,
                key_types=key_types,
                max_certificates=max_certificates,
                lookup_hash_directory=lookup_hash_directory,
                crl_enabled=crl_enabled,
                host_name=host_name,
                truststore=truststore,
                reload_command=reload_command,
                reload_pid_file=reload_pid_file,
                reload_signal=reload_signal,
                reload_url=reload_url,
                reload_timeout=reload_timeout,
            )
        )

    def remove_slot(self, name: str) -> RemoteSlotRemoval:
        """Remove a slot made through the API (admin only); its files stay on disk."""
        return self._send(calls.remove_slot(name))

    # -- certificates ------------------------------------------------------------------

    def slot_certificates(self, name: str) -> Listing[SlotCertificate]:
        """The certificates of a slot."""
        return self._send(calls.slot_certificates(name))

    def get_slot_certificate(self, name: str, cert_id: str) -> RemoteSlotCertificate:
        """One certificate of a slot, by its id."""
        return self._send(calls.get_slot_certificate(name, cert_id))

    def install_slot_certificate(
        self,
        name: str,
        certificate_pem: str | bytes,
        *,
        key_pem: str | bytes | None = None,
        password: str | bytes | None = None,
    ) -> RemoteSlotCertificate:
        """Install a certificate (PEM, then its chain), then reload the slot's service.

        key_pem: the key of a server or client slot, if not in ``certificate_pem``;
            without either, the key of the slot's last CSR job.
        password: the key's password, if it is encrypted.
        """
        return self._send(
            calls.install_slot_certificate(
                name, certificate_pem, key_pem=key_pem, password=password
            )
        )

    def replace_slot_certificate(
        self,
        name: str,
        cert_id: str,
        certificate_pem: str | bytes,
        *,
        key_pem: str | bytes | None = None,
        password: str | bytes | None = None,
    ) -> RemoteSlotCertificate:
        """Replace certificate ``cert_id`` of a slot, then reload (arguments as for install)."""
        return self._send(
            calls.replace_slot_certificate(
                name, cert_id, certificate_pem, key_pem=key_pem, password=password
            )
        )

    def delete_slot_certificate(self, name: str, cert_id: str) -> RemoteSlotDeletion:
        """Delete a certificate (a server slot gets a self-signed one instead), then reload."""
        return self._send(calls.delete_slot_certificate(name, cert_id))

    # -- CRLs --------------------------------------------------------------------------

    def slot_crls(self, name: str) -> Listing[SlotCRL]:
        """The CRLs in a slot's hash directory."""
        return self._send(calls.slot_crls(name))

    def install_slot_crl(
        self, name: str, crl: x509.CertificateRevocationList | str | bytes
    ) -> RemoteSlotCRL:
        """Add a CRL (object, PEM or DER) to a ``crl_enabled`` slot (next ``hash.rN``)."""
        return self._send(calls.install_slot_crl(name, crl))

    # -- CSR jobs ----------------------------------------------------------------------

    def request_slot_csr(
        self,
        name: str,
        *,
        common_name: str | None = None,
        organization: str | None = None,
        organizational_unit: str | None = None,
        city: str | None = None,
        state: str | None = None,
        country: str | None = None,
        alternative_names: Sequence[str] | None = None,
        key_pair_algorithm: str | None = None,
        key_bit_length: int | None = None,
        key_curve_id: str | None = None,
        key_usage: Sequence[str] | None = None,
        email: str | None = None,
        contact_person: str | None = None,
        given_name: str | None = None,
        surname: str | None = None,
        initials: str | None = None,
        unstructured_name: str | None = None,
        challenge_password: str | None = None,
        sign_with: str | None = None,
        profile: str | None = None,
    ) -> RemoteCSRJob:
        """Start a CSR job: a new key, kept sealed by certward, and its CSR (the job, queued).

        The fields are Redfish GenerateCSR's: common_name, organization,
        organizational_unit, city, state and country (two letters) are required, the
        server names the first one refused (``InvalidCSRRequest``).
        key_pair_algorithm: ``RSA`` (key_bit_length 2048/3072/4096), ``EC``
            (key_curve_id ``secp256r1``/``secp384r1``, the default) or ``Ed25519``.
        alternative_names: DNS names or IP addresses; key_usage: Redfish KeyUsage names.
        sign_with: a certward CA that signs the CSR, and the job installs the
            certificate (``certificate_id``); profile: its profile.
        Wait for the job with :meth:`wait_for_csr_job`.
        """
        fields = {
            "common_name": common_name,
            "organization": organization,
            "organizational_unit": organizational_unit,
            "city": city,
            "state": state,
            "country": country,
            "alternative_names": alternative_names,
            "key_pair_algorithm": key_pair_algorithm,
            "key_bit_length": key_bit_length,
            "key_curve_id": key_curve_id,
            "key_usage": key_usage,
            "email": email,
            "contact_person": contact_person,
            "given_name": given_name,
            "surname": surname,
            "initials": initials,
            "unstructured_name": unstructured_name,
            "challenge_password": challenge_password,
        }
        return self._send(
            calls.request_slot_csr(name, fields=fields, sign_with=sign_with, profile=profile)
        )

    def get_csr_job(self, job_id: str) -> RemoteCSRJob:
        """A CSR job: its state and, once made, the CSR."""
        return self._send(calls.get_csr_job(job_id))

    def wait_for_csr_job(
        self, job_id: str, *, timeout: float, poll_interval: float = DEFAULT_POLL_INTERVAL
    ) -> RemoteCSRJob:
        """The job once it is done, or as it is when ``timeout`` seconds have passed.

        A failed job is returned, not raised: check ``done``, ``state`` and ``error_code``.
        """
        deadline = time.monotonic() + timeout
        job = self.get_csr_job(job_id)
        while not job.done and time.monotonic() < deadline:
            time.sleep(poll_interval)
            job = self.get_csr_job(job_id)
        return job
