"""The JSON shapes of ``/v1/slots`` (pydantic at the edge; the service uses dataclasses)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from certward.certs.certificates import SlotCertificate
from certward.certs.crl import SlotCRL
from certward.certs.slots import SlotSpec
from certward.config import SlotSettings

__all__ = [
    "CRLUpload",
    "CertificateUpload",
    "ReloadOut",
    "SlotCRLOut",
    "SlotCertificateOut",
    "SlotCreate",
    "SlotDeleteOut",
    "SlotOut",
    "crl_out",
    "slot_certificate_out",
    "slot_out",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SlotCreate(SlotSettings):
    """A new slot: its name (``<server|client|authority>/<label>``) and settings."""

    name: str = Field(max_length=128, examples=["server/https"])


class CertificateUpload(_In):
    """A PEM upload: the certificate (then its chain), the key in it or in ``key_pem``."""

    certificate_pem: str = Field(max_length=262_144)
    key_pem: str | None = Field(default=None, max_length=65_536)
    password: str | None = Field(default=None, max_length=100)


class CRLUpload(_In):
    crl_pem: str = Field(max_length=16 * 1_048_576)


class ReloadOut(BaseModel):
    kind: Literal["command", "signal", "webhook", "none"]
    command: list[str]
    pid_file: str | None
    signal: str
    url: str | None
    timeout_seconds: float


class SlotOut(BaseModel):
    name: str
    kind: str
    directory: str
    cert_file: str
    key_file: str
    mode_dir: str
    mode_file: str
    owner: str | None
    key_types: list[str]
    max_certificates: int
    lookup_hash_directory: bool
    crl_enabled: bool
    host_name: str
    truststore: str | None
    reload: ReloadOut
    source: Literal["config", "api"]


class SlotCertificateOut(BaseModel):
    slot: str
    id: str
    subject: str
    issuer: str
    serial: str
    not_before: datetime
    not_after: datetime
    key_usage: list[str]
    fingerprint_sha256: str
    installed_at: datetime
    certificate_pem: str


class SlotDeleteOut(BaseModel):
    """The deleted id, and the self-signed certificate a server slot got in its place."""

    deleted: str
    replacement: SlotCertificateOut | None


class SlotCRLOut(BaseModel):
    slot: str
    file_name: str
    issuer: str
    crl_number: str | None
    this_update: datetime
    next_update: datetime | None
    installed_at: datetime


def slot_out(spec: SlotSpec) -> SlotOut:
    """The JSON form of a slot."""
    reload = spec.reload
    return SlotOut(
        name=spec.name,
        kind=spec.kind.value,
        directory=str(spec.directory),
        cert_file=spec.cert_file,
        key_file=spec.key_file,
        mode_dir=f"{spec.mode_dir:04o}",
        mode_file=f"{spec.mode_file:04o}",
        owner=spec.owner,
        key_types=list(spec.key_types),
        max_certificates=spec.capacity,
        lookup_hash_directory=spec.lookup_hash_directory,
        crl_enabled=spec.crl_enabled,
        host_name=spec.host_name,
        truststore=spec.truststore,
        reload=ReloadOut(
            kind=reload.kind,
            command=list(reload.command),
            pid_file=str(reload.pid_file) if reload.pid_file else None,
            signal=reload.signal,
            url=reload.url,
            timeout_seconds=reload.timeout_seconds,
        ),
        source=spec.source,
    )


def slot_certificate_out(certificate: SlotCertificate) -> SlotCertificateOut:
    """The JSON form of a slot certificate."""
    return SlotCertificateOut(
        slot=certificate.slot,
        id=certificate.id,
        subject=certificate.subject,
        issuer=certificate.issuer,
        serial=certificate.serial,
        not_before=certificate.not_before,
        not_after=certificate.not_after,
        key_usage=list(certificate.key_usage),
        fingerprint_sha256=certificate.fingerprint_sha256,
        installed_at=certificate.installed_at,
        certificate_pem=certificate.pem.decode("ascii"),
    )


def crl_out(crl: SlotCRL) -> SlotCRLOut:
    """The JSON form of a slot CRL (the number as text: it may exceed 64 bits)."""
    return SlotCRLOut(
        slot=crl.slot,
        file_name=crl.file_name,
        issuer=crl.issuer,
        crl_number=str(crl.crl_number) if crl.crl_number is not None else None,
        this_update=crl.this_update,
        next_update=crl.next_update,
        installed_at=crl.installed_at,
    )
