"""The slot API's JSON shapes (``server/slot_schemas.py``, ``routes/jobs.py``) as values."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from certward.certs.certificates import SlotCertificate
from certward.certs.crl import SlotCRL
from certward.certs.jobs import CSRJob, JobState
from certward.certs.slots import ReloadAction, SlotKind, SlotSpec
from certward.client._decode import time, time_or_none
from certward.crypto.formats import load_certificate

__all__ = ["csr_job", "slot", "slot_certificate", "slot_crl"]

JSON = Mapping[str, Any]


def slot(data: JSON) -> SlotSpec:
    """``SlotOut`` → SlotSpec (modes arrive as octal text, ``"0700"``)."""
    reload = data["reload"]
    return SlotSpec(
        name=data["name"],
        kind=SlotKind(data["kind"]),
        directory=Path(data["directory"]),
        cert_file=data["cert_file"],
        key_file=data["key_file"],
        mode_dir=int(data["mode_dir"], 8),
        mode_file=int(data["mode_file"], 8),
        owner=data["owner"],
        key_types=tuple(data["key_types"]),
        max_certificates=data["max_certificates"],
        lookup_hash_directory=data["lookup_hash_directory"],
        crl_enabled=data["crl_enabled"],
        host_name=data["host_name"],
        reload=ReloadAction(
            kind=reload["kind"],
            command=tuple(reload["command"]),
            pid_file=Path(reload["pid_file"]) if reload["pid_file"] else None,
            signal=reload["signal"],
            url=reload["url"],
            timeout_seconds=float(reload["timeout_seconds"]),
        ),
        truststore=data["truststore"],
        source=data["source"],
    )


def slot_certificate(data: JSON) -> SlotCertificate:
    """``SlotCertificateOut`` → SlotCertificate (the certificate parsed from its PEM)."""
    pem = data["certificate_pem"].encode()
    return SlotCertificate(
        slot=data["slot"],
        id=data["id"],
        certificate=load_certificate(pem),
        pem=pem,
        subject=data["subject"],
        issuer=data["issuer"],
        not_before=time(data["not_before"]),
        not_after=time(data["not_after"]),
        serial=data["serial"],
        key_usage=tuple(data["key_usage"]),
        fingerprint_sha256=data["fingerprint_sha256"],
        installed_at=time(data["installed_at"]),
    )


def slot_crl(data: JSON) -> SlotCRL:
    """``SlotCRLOut`` → SlotCRL (the CRL number travels as text: it may exceed 64 bits)."""
    number = data["crl_number"]
    return SlotCRL(
        slot=data["slot"],
        file_name=data["file_name"],
        issuer=data["issuer"],
        crl_number=int(number) if number is not None else None,
        this_update=time(data["this_update"]),
        next_update=time_or_none(data["next_update"]),
        installed_at=time(data["installed_at"]),
    )


def csr_job(data: JSON) -> CSRJob:
    """``JobOut`` → CSRJob (the API does not show the job's actor)."""
    error = data["error"]
    return CSRJob(
        id=data["id"],
        slot=data["slot"],
        state=JobState(data["state"]),
        key_type=data["key_type"],
        request=dict(data["request"]),
        created_at=time(data["created_at"]),
        sign_with=data["sign_with"],
        profile=data["profile"],
        csr_pem=data["csr_pem"],
        certificate_id=data["certificate_id"],
        error_code=error["code"] if error is not None else None,
        error_message=error["message"] if error is not None else None,
        started_at=time_or_none(data["started_at"]),
        finished_at=time_or_none(data["finished_at"]),
    )
