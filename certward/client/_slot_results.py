"""What the slot methods return: certward's slot values, each with the request id of its exchange.

The rule of ``_results.py``: ``RemoteSlot`` *is* a :class:`~certward.certs.slots.SlotSpec`,
``RemoteSlotCertificate`` a :class:`~certward.certs.certificates.SlotCertificate`
(certificate parsed, ``pem`` as bytes), ``RemoteSlotCRL`` a
:class:`~certward.certs.crl.SlotCRL` and ``RemoteCSRJob`` a
:class:`~certward.certs.jobs.CSRJob`, each with ``request_id``; answers certward has
no value for get a small frozen holder of the SDK's own.
"""

from __future__ import annotations

from dataclasses import dataclass

from certward.certs.certificates import SlotCertificate
from certward.certs.crl import SlotCRL
from certward.certs.jobs import CSRJob
from certward.certs.slots import SlotSpec
from certward.client._results import _Answered

__all__ = [
    "RemoteCSRJob",
    "RemoteSlot",
    "RemoteSlotCRL",
    "RemoteSlotCertificate",
    "RemoteSlotDeletion",
    "RemoteSlotRemoval",
]


@dataclass(frozen=True)
class RemoteSlot(SlotSpec, _Answered):
    """A :class:`~certward.certs.slots.SlotSpec` as a server answered it.

    The API shows a slot's capacity as ``max_certificates`` (1 for server and client
    slots, whatever was configured), so that is what the field holds.
    """


@dataclass(frozen=True)
class RemoteSlotCertificate(SlotCertificate, _Answered):
    """A :class:`~certward.certs.certificates.SlotCertificate` (certificate parsed)."""


@dataclass(frozen=True)
class RemoteSlotCRL(SlotCRL, _Answered):
    """A :class:`~certward.certs.crl.SlotCRL`: a CRL in a slot's hash directory."""


@dataclass(frozen=True)
class RemoteCSRJob(CSRJob, _Answered):
    """A :class:`~certward.certs.jobs.CSRJob`: ``state``, and ``csr_pem`` once made.

    ``done`` tells whether it finished; a failed job has ``error_code`` (a
    :mod:`certward.errors` code) and ``error_message``. ``actor`` is not shown by the
    API and is always None here.
    """


@dataclass(frozen=True)
class RemoteSlotDeletion(_Answered):
    """A certificate deleted from a slot, and the self-signed one a server slot got instead."""

    deleted: str
    replacement: SlotCertificate | None


@dataclass(frozen=True)
class RemoteSlotRemoval(_Answered):
    """A slot removed (its files stay on disk)."""

    name: str
