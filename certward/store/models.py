"""The database schema as typed SQLAlchemy models.

Times are stored as naive UTC and read back as aware UTC (:class:`UTCDateTime`),
so SQLite and PostgreSQL behave the same. Serial numbers are lowercase hex
without leading zeros, the canonical form every entry point normalises to.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Base",
    "CRLRow",
    "CertificateAuthorityRow",
    "CertificateRow",
    "MetaValue",
    "RevocationRow",
    "UTCDateTime",
]


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, naive UTC at rest."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class MetaValue(Base):
    """Small facts about this database (e.g. which keystore sealed its secrets)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class CertificateAuthorityRow(Base):
    __tablename__ = "cas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("cas.id"), index=True)
    serial: Mapped[str] = mapped_column(String(42))
    subject: Mapped[str] = mapped_column(Text)
    key_type: Mapped[str] = mapped_column(String(16))
    key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    path_length: Mapped[int | None] = mapped_column(Integer)
    crl_number: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CertificateRow(Base):
    __tablename__ = "certificates"
    __table_args__ = (
        Index("ix_certificates_ca_not_after", "ca_id", "not_after"),
        Index("ix_certificates_not_after", "not_after"),
        Index("ix_certificates_common_name", "common_name"),
        Index("ix_certificates_revoked_at", "revoked_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    serial: Mapped[str] = mapped_column(String(42), unique=True)
    ca_id: Mapped[int] = mapped_column(ForeignKey("cas.id"))
    profile: Mapped[str] = mapped_column(String(64))
    is_ca: Mapped[bool] = mapped_column(Boolean, default=False)
    subject: Mapped[str] = mapped_column(Text)
    common_name: Mapped[str | None] = mapped_column(String(255))
    sans: Mapped[str] = mapped_column(Text, default="")
    key_type: Mapped[str] = mapped_column(String(16))
    fingerprint: Mapped[str] = mapped_column(String(64))
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    der: Mapped[bytes] = mapped_column(LargeBinary)
    key_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revocation_reason: Mapped[str | None] = mapped_column(String(32))


class RevocationRow(Base):
    """One revoked certificate, with its CRL entry encoded once, at revocation time."""

    __tablename__ = "revocations"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    ca_id: Mapped[int] = mapped_column(ForeignKey("cas.id"), index=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), unique=True)
    serial: Mapped[str] = mapped_column(String(42))
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str | None] = mapped_column(String(32))
    entry_der: Mapped[bytes] = mapped_column(LargeBinary)


class CRLRow(Base):
    __tablename__ = "crls"
    __table_args__ = (UniqueConstraint("ca_id", "number", name="uq_crls_ca_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ca_id: Mapped[int] = mapped_column(ForeignKey("cas.id"), index=True)
    number: Mapped[int] = mapped_column(BigInteger)
    this_update: Mapped[datetime] = mapped_column(UTCDateTime())
    next_update: Mapped[datetime] = mapped_column(UTCDateTime())
    entries: Mapped[int] = mapped_column(BigInteger)
    der: Mapped[bytes] = mapped_column(LargeBinary)


class PrincipalRow(Base):
    """An API identity: a client certificate bound to grants."""

    __tablename__ = "principals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    grants: Mapped[str] = mapped_column(Text)  # JSON list of grants
    certificate_serial: Mapped[str] = mapped_column(String(42), unique=True)
    certificate_fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(64))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditRow(Base):
    """One mutating call: who did what to what, and how it ended."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_time", "time"),
        Index("ix_audit_events_principal", "principal"),
        Index("ix_audit_events_action", "action"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime())
    principal: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(255))
    result: Mapped[str] = mapped_column(String(64))  # "ok" or an error code
    request_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[str] = mapped_column(Text, default="{}")
