"""What every CA service call needs: database, keystore, profiles, clock, key cache.

Parsing and unsealing a CA key costs far more than signing with it, so each
CA's key is opened once per process and kept (keyed by CA id and serial, so a
replaced CA certificate is never served from a stale entry).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy import Row, select
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
    chain: tuple[x509.Certificate, ...] = field(repr=False)


@dataclass
class CAContext:
    """The collaborators of the CA services, bound once per process."""

    database: Database
    keystore: Keystore
    settings: Settings
    profiles: ProfileRegistry
    published_dir: Path | None = None
    clock: Callable[[], datetime] = utcnow
    # How long a successful "may this CA issue?" check is reused (0: check every time).
    # The service uses a second and forgets the checks whenever a CRL is published.
    issuer_check_ttl: float = 0.0
    _loaded: dict[tuple[int, str], LoadedCA] = field(default_factory=dict, repr=False)
    _issuer_checks: dict[str, tuple[float, LoadedCA]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def ca_row(self, session: Session, name: str) -> CertificateAuthorityRow:
        """The CA called ``name``; CANotFound otherwise."""
        row = session.scalar(
            select(CertificateAuthorityRow).where(CertificateAuthorityRow.name == name)
        )
        if row is None:
            raise CANotFound(f"no CA named {name!r}")
        return row

    def load(self, session: Session, row: CertificateAuthorityRow) -> LoadedCA:
        """The signing-ready form of a CA row (opened once, then cached)."""
        cache_key = (row.id, row.serial)
        loaded = self._loaded.get(cache_key)
        if loaded is not None:
            return loaded
        chain = self.chain_of(session, row)
        with self._lock:
            loaded = self._loaded.get(cache_key)
            if loaded is None:
                key = load_private_key(
                    self.keystore.open(row.key_sealed, record_id=ca_key_record_id(row.name))
                )
                certificate = chain[0]
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
                    chain=chain,
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
        """The CA ``name`` if it may issue now: it and every CA above it unexpired and unrevoked.

        One query reads the state of every CA (there are few), so the check costs
        the same at any depth; the opened key comes from the cache.
        """
        if self.issuer_check_ttl > 0:
            checked = self._issuer_checks.get(name)
            if checked is not None and time.monotonic() - checked[0] < self.issuer_check_ttl:
                return checked[1]
        loaded = self._checked_issuer(session, name)
        if self.issuer_check_ttl > 0:
            self._issuer_checks[name] = (time.monotonic(), loaded)
        return loaded

    def forget_issuer_checks(self) -> None:
        """Drop reused issuer checks (after a revocation or a new CRL)."""
        self._issuer_checks.clear()

    def _checked_issuer(self, session: Session, name: str) -> LoadedCA:
        states = {state.id: state for state in session.execute(_CA_STATES)}
        found = next((state for state in states.values() if state.name == name), None)
        if found is None:
            raise CANotFound(f"no CA named {name!r}")
        now = self.clock()
        current: _CAState | None = found
        while current is not None:
            if current.not_after <= now:
                raise IssuerNotUsable(
                    f"CA {current.name!r} expired on {current.not_after.isoformat()}; "
                    f"{name!r} cannot issue"
                )
            if current.revoked_at is not None:
                raise IssuerNotUsable(f"CA {current.name!r} is revoked; {name!r} cannot issue")
            current = states.get(current.parent_id) if current.parent_id is not None else None
        loaded = self._loaded.get((found.id, found.serial))
        if loaded is not None:
            return loaded
        row = session.get(CertificateAuthorityRow, found.id)
        assert row is not None
        return self.load(session, row)


# Every CA with the revocation state of its own certificate.
_CAState = Row[int, str, int | None, str, datetime, datetime | None]
_CA_STATES = select(
    CertificateAuthorityRow.id,
    CertificateAuthorityRow.name,
    CertificateAuthorityRow.parent_id,
    CertificateAuthorityRow.serial,
    CertificateAuthorityRow.not_after,
    CertificateRow.revoked_at,
).join(CertificateRow, CertificateRow.serial == CertificateAuthorityRow.serial)
