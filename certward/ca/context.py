"""What every CA service call needs: database, keystore, profiles, clock, key cache.

Parsing and unsealing a CA key costs far more than signing with it, so each
CA's key is opened once per process and kept (keyed by CA id and serial, so a
replaced CA certificate is never served from a stale entry).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy import select
from sqlalchemy.orm import Session

from certward.ca.profiles import ProfileRegistry
from certward.config import Settings
from certward.crypto.keys import KeyType, SigningKey, load_private_key, signature_hash_for
from certward.errors import CANotFound, IssuerNotUsable
from certward.keystore import Keystore
from certward.store.database import Database
from certward.store.models import CertificateAuthorityRow, CertificateRow

__all__ = ["CAContext", "LoadedCA", "ca_key_record_id", "utcnow"]


def utcnow() -> datetime:
    """The current time, aware UTC, whole seconds (certificates carry no fractions)."""
    return datetime.now(UTC).replace(microsecond=0)


def ca_key_record_id(name: str) -> str:
    """The associated data that binds a sealed CA key to its CA."""
    return f"ca-key:{name}"


@dataclass(frozen=True)
class LoadedCA:
    """A CA ready to sign: its certificate, opened key and the values built from them."""

    id: int
    name: str
    serial: str
    certificate: x509.Certificate
    key: SigningKey = field(repr=False)
    key_type: KeyType
    hash_algorithm: hashes.SHA256 | hashes.SHA384 | None
    subject: x509.Name
    key_id: x509.SubjectKeyIdentifier
    not_after: datetime
    parent_id: int | None


@dataclass
class CAContext:
    """The collaborators of the CA services, bound once per process."""

    database: Database
    keystore: Keystore
    settings: Settings
    profiles: ProfileRegistry
    published_dir: Path | None = None
    clock: Callable[[], datetime] = utcnow
    _loaded: dict[tuple[int, str], LoadedCA] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def ca_row(self, session: Session, name: str) -> CertificateAuthorityRow:
        """The CA called ``name``; CANotFound otherwise."""
        row = session.scalar(
            select(CertificateAuthorityRow).where(CertificateAuthorityRow.name == name)
        )
        if row is None:
            raise CANotFound(f"no CA named {name!r}")
        return row

    def load(self, row: CertificateAuthorityRow) -> LoadedCA:
        """The signing-ready form of a CA row (opened once, then cached)."""
        cache_key = (row.id, row.serial)
        loaded = self._loaded.get(cache_key)
        if loaded is not None:
            return loaded
        with self._lock:
            loaded = self._loaded.get(cache_key)
            if loaded is None:
                key = load_private_key(
                    self.keystore.open(row.key_sealed, record_id=ca_key_record_id(row.name))
                )
                certificate = x509.load_der_x509_certificate(row.certificate_der)
                loaded = LoadedCA(
                    id=row.id,
                    name=row.name,
                    serial=row.serial,
                    certificate=certificate,
                    key=key,
                    key_type=KeyType(row.key_type),
                    hash_algorithm=signature_hash_for(key),
                    subject=certificate.subject,
                    key_id=certificate.extensions.get_extension_for_class(
                        x509.SubjectKeyIdentifier
                    ).value,
                    not_after=row.not_after,
                    parent_id=row.parent_id,
                )
                self._loaded[cache_key] = loaded
        return loaded

    def chain_of(
        self, session: Session, row: CertificateAuthorityRow
    ) -> tuple[x509.Certificate, ...]:
        """The certificates of ``row``'s CA and every CA above it, up to the root."""
        certificates = [x509.load_der_x509_certificate(row.certificate_der)]
        current = row
        while current.parent_id is not None:
            parent = session.get(CertificateAuthorityRow, current.parent_id)
            assert parent is not None  # foreign key
            certificates.append(x509.load_der_x509_certificate(parent.certificate_der))
            current = parent
        return tuple(certificates)

    def usable_issuer(self, session: Session, name: str) -> LoadedCA:
        """The CA ``name`` if it may issue now: it and every CA above it unexpired and unrevoked."""
        row = self.ca_row(session, name)
        now = self.clock()
        current: CertificateAuthorityRow | None = row
        while current is not None:
            if current.not_after <= now:
                raise IssuerNotUsable(
                    f"CA {current.name!r} expired on {current.not_after.isoformat()}; "
                    f"{name!r} cannot issue"
                )
            revoked = session.scalar(
                select(CertificateRow.revoked_at).where(CertificateRow.serial == current.serial)
            )
            if revoked is not None:
                raise IssuerNotUsable(f"CA {current.name!r} is revoked; {name!r} cannot issue")
            current = (
                session.get(CertificateAuthorityRow, current.parent_id)
                if current.parent_id
                else None
            )
        return self.load(row)
