"""The certificate manager's operations on slots, in one place for callers.

Each lives in its own module; this one only gathers them (the contract names
``certs/manager.py``).
"""

from __future__ import annotations

from certward.certs.crl import SlotCRL, install_crl, list_crls
from certward.certs.delete import delete_certificate
from certward.certs.install import install_certificate, replace_certificate
from certward.certs.lookup import get_certificate, list_certificates
from certward.certs.reconcile import SlotRepair, reconcile_slots

__all__ = [
    "SlotCRL",
    "SlotRepair",
    "delete_certificate",
    "get_certificate",
    "install_certificate",
    "install_crl",
    "list_certificates",
    "list_crls",
    "reconcile_slots",
    "replace_certificate",
]
