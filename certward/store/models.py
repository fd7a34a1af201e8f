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
    "CERTIFICATE_SEARCH_TABLE",
    "AcmeAccountRow",
    "AcmeAuthorizationRow",
    "AcmeChallengeRow",
    "AcmeEabKeyRow",
    "AcmeNonceRow",
    "AcmeOrderRow",
    "Base",
    "CRLRow",
    "CSRJobRow",
    "CertEventRow",
    "CertExpiryNoticeRow",
    "CertSlotRow",
    "CertificateAuthorityRow",
    "CertificateRow",
    "EventCursorRow",
    "KdsMasterKeyRow",
    "KdsNodeRow",
    "KmsAliasRow",
    "KmsImportTokenRow",
    "KmsKeyRow",
    "KmsKeyVersionRow",
    "MetaValue",
    "RevocationRow",
    "SlotCRLRow",
    "SlotCertificateRow",
    "SlotPendingKeyRow",
    "UTCDateTime",
    "is_search_index",
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


# The search index of certificates' subject and SANs (migration 0008) is no model: on
# SQLite an FTS5 table (plus its shadow tables ``certificates_search_*``) filled by
# triggers, on PostgreSQL pg_trgm indexes ``ix_certificates_search_*`` (when the
# extension could be had). Schema comparison and backups pass over it by name; a
# restore rebuilds it from the certificate rows it loads.
CERTIFICATE_SEARCH_TABLE = "certificates_search"


def is_search_index(name: str | None) -> bool:
    """True for a table or index name that belongs to the certificate search index."""
    return name is not None and (
        name == CERTIFICATE_SEARCH_TABLE
        or name.startswith((f"{CERTIFICATE_SEARCH_TABLE}_", f"ix_{CERTIFICATE_SEARCH_TABLE}_"))
    )


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


class KmsKeyRow(Base):
    """A KMS key: its spec, usage, state and which version is primary."""

    __tablename__ = "kms_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(64), unique=True)  # "key-<uuid>"
    spec: Mapped[str] = mapped_column(String(32))  # AES_256, RSA_2048, EC_P256, HMAC_256…
    usage: Mapped[str] = mapped_column(String(32))  # ENCRYPT_DECRYPT, SIGN_VERIFY, …
    origin: Mapped[str] = mapped_column(String(16))  # CERTWARD, EXTERNAL, PUBLIC_ONLY
    state: Mapped[str] = mapped_column(String(32))  # Enabled, Disabled, PendingDeletion…
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[str] = mapped_column(Text, default="{}")  # JSON object
    primary_version: Mapped[int] = mapped_column(Integer, default=0)  # 0: no version yet
    min_decryption_version: Mapped[int] = mapped_column(Integer, default=1)
    rotation_period_seconds: Mapped[int | None] = mapped_column(BigInteger)
    next_rotation_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    deletion_date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class KmsKeyVersionRow(Base):
    """One version of a KMS key; the material is sealed by the keystore."""

    __tablename__ = "kms_key_versions"
    __table_args__ = (UniqueConstraint("key_id", "version", name="uq_kms_key_versions"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("kms_keys.id"), index=True)
    # "key-<uuid>/<version>": names the sealed record (its associated data).
    record: Mapped[str] = mapped_column(String(96), unique=True)
    version: Mapped[int] = mapped_column(Integer)
    material_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)  # None: public key only
    public_der: Mapped[bytes | None] = mapped_column(LargeBinary)  # SubjectPublicKeyInfo
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class KmsAliasRow(Base):
    """``alias/<name>`` pointing at a key."""

    __tablename__ = "kms_aliases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alias: Mapped[str] = mapped_column(String(256), unique=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("kms_keys.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class KmsImportTokenRow(Base):
    """A wrapping key pair handed out for bring-your-own-key imports into one key."""

    __tablename__ = "kms_import_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("kms_keys.id"), index=True)
    wrapping_spec: Mapped[str] = mapped_column(String(32))  # e.g. RSA_3072
    # RSAES_OAEP_SHA_256 or RSA_AES_KEY_WRAP_SHA_256: the token only opens what it was made for.
    wrapping_algorithm: Mapped[str] = mapped_column(String(32))
    wrapping_key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    public_der: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class KdsMasterKeyRow(Base):
    """One KDS master key (64 random bytes, sealed), named by its millisecond timestamp."""

    __tablename__ = "kds_master_keys"

    timestamp: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(128))  # node or principal


class KdsNodeRow(Base):
    """A KDS node that shares this database: where it listens and when it was last alive."""

    __tablename__ = "kds_nodes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node_id: Mapped[str] = mapped_column(String(128), unique=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    address: Mapped[bytes] = mapped_column(LargeBinary)  # raw 4- or 16-byte IP for answers
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    publisher: Mapped[bool] = mapped_column(Boolean, default=False)


class AcmeAccountRow(Base):
    """An ACME account (RFC 8555 7.1.2) of one directory (CA + profile), known by its key."""

    __tablename__ = "acme_accounts"
    __table_args__ = (
        UniqueConstraint("ca_name", "profile", "thumbprint", name="uq_acme_accounts_key"),
        Index("ix_acme_accounts_created", "created_from", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)  # in the account URL
    ca_name: Mapped[str] = mapped_column(String(64))
    profile: Mapped[str] = mapped_column(String(64))
    thumbprint: Mapped[str] = mapped_column(String(64))  # RFC 7638, base64url SHA-256
    jwk: Mapped[str] = mapped_column(Text)  # the public key as JSON
    status: Mapped[str] = mapped_column(String(16))  # valid, deactivated, revoked
    contact: Mapped[str] = mapped_column(Text, default="[]")  # JSON list of URLs
    principal: Mapped[str | None] = mapped_column(String(64))  # bound by an EAB key
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_from: Mapped[str | None] = mapped_column(String(64))  # client address


class AcmeEabKeyRow(Base):
    """An External Account Binding key: binds the ACME account made with it to a principal."""

    __tablename__ = "acme_eab_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(64), unique=True)
    principal: Mapped[str] = mapped_column(String(64))
    hmac_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_by: Mapped[int | None] = mapped_column(ForeignKey("acme_accounts.id"))


class AcmeOrderRow(Base):
    """An ACME order: the identifiers to certify and, once valid, the certificate."""

    __tablename__ = "acme_orders"
    __table_args__ = (Index("ix_acme_orders_account_created", "account_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("acme_accounts.id"))
    status: Mapped[str] = mapped_column(String(16))  # pending, ready, processing, valid, invalid
    identifiers: Mapped[str] = mapped_column(Text)  # JSON list of {"type", "value"}
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)  # JSON problem document
    certificate_serial: Mapped[str | None] = mapped_column(String(42), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AcmeAuthorizationRow(Base):
    """Proof of control of one identifier for one order."""

    __tablename__ = "acme_authorizations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("acme_orders.id"), index=True)
    identifier_type: Mapped[str] = mapped_column(String(16))
    identifier: Mapped[str] = mapped_column(String(255))
    wildcard: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))  # pending, valid, invalid, deactivated
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AcmeChallengeRow(Base):
    """One way of proving an authorization: http-01, dns-01 or tls-alpn-01."""

    __tablename__ = "acme_challenges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    authorization_id: Mapped[int] = mapped_column(ForeignKey("acme_authorizations.id"), index=True)
    type: Mapped[str] = mapped_column(String(16))
    token: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # pending, processing, valid, invalid
    validated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)  # JSON problem document


class AcmeNonceRow(Base):
    """A Replay-Nonce handed out and not used yet (RFC 8555 6.5)."""

    __tablename__ = "acme_nonces"

    value: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class ServiceNodeRow(Base):
    """A ``certward serve`` process: where it answers and when it was last alive."""

    __tablename__ = "service_nodes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node_id: Mapped[str] = mapped_column(String(128), unique=True)  # host:pid:port
    url: Mapped[str] = mapped_column(String(255))
    version: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


# -- certificate manager (issue 5, migration 0006) ---------------------------------------


class CertSlotRow(Base):
    """A slot created through the API (slots from certward.toml are not stored)."""

    __tablename__ = "cert_slots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    settings: Mapped[str] = mapped_column(Text)  # JSON of SlotSettings
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(64))


class SlotCertificateRow(Base):
    """A certificate held by a slot; the slot's files are rendered from these rows."""

    __tablename__ = "slot_certificates"
    __table_args__ = (UniqueConstraint("slot", "cert_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    slot: Mapped[str] = mapped_column(String(128), index=True)
    cert_id: Mapped[str] = mapped_column(String(64))
    pem: Mapped[str] = mapped_column(Text)  # the certificate, then the chain sent with it
    key_record: Mapped[str | None] = mapped_column(String(64), unique=True)
    key_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    fingerprint: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(Text)
    issuer: Mapped[str] = mapped_column(Text)
    serial: Mapped[str] = mapped_column(String(128))
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    installed_by: Mapped[str | None] = mapped_column(String(64))


class SlotCRLRow(Base):
    """A CRL installed into a slot's hash directory, at its ``<issuer-hash>.rN`` file."""

    __tablename__ = "slot_crls"
    __table_args__ = (UniqueConstraint("slot", "file_name"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    slot: Mapped[str] = mapped_column(String(128), index=True)
    file_name: Mapped[str] = mapped_column(String(32))
    issuer: Mapped[str] = mapped_column(Text)
    crl_number: Mapped[str | None] = mapped_column(String(64))  # decimal; may exceed 64 bits
    this_update: Mapped[datetime] = mapped_column(UTCDateTime())
    next_update: Mapped[datetime | None] = mapped_column(UTCDateTime())
    der: Mapped[bytes] = mapped_column(LargeBinary)
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SlotPendingKeyRow(Base):
    """A private key made for a CSR of a slot, waiting for its certificate (sealed)."""

    __tablename__ = "slot_pending_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slot: Mapped[str] = mapped_column(String(128), index=True)
    job_id: Mapped[str] = mapped_column(String(64), unique=True)
    record: Mapped[str] = mapped_column(String(64), unique=True)
    key_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    public_key_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CertEventRow(Base):
    """A change to a slot (installed, replaced, deleted, expiring, crl_updated), in order."""

    __tablename__ = "cert_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    slot: Mapped[str] = mapped_column(String(128))
    cert_id: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    details: Mapped[str] = mapped_column(Text, default="{}")


# -- certificate manager: CSR jobs and event delivery (issue 5, helper REDFISH) ----------


class CSRJobRow(Base):
    """A CSR generated in the background for a slot (and, optionally, signed and installed)."""

    __tablename__ = "csr_jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    slot: Mapped[str] = mapped_column(String(128), index=True)
    state: Mapped[str] = mapped_column(String(16))  # queued, running, succeeded, failed
    request: Mapped[str] = mapped_column(Text)  # JSON of the fields, no challenge password
    key_type: Mapped[str] = mapped_column(String(16))
    sign_with: Mapped[str | None] = mapped_column(String(64))
    profile: Mapped[str | None] = mapped_column(String(64))
    csr_pem: Mapped[str | None] = mapped_column(Text)
    certificate_id: Mapped[str | None] = mapped_column(String(64))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CertExpiryNoticeRow(Base):
    """An 'expiring' event already emitted for a slot certificate and threshold (once each)."""

    __tablename__ = "cert_expiry_notices"
    __table_args__ = (UniqueConstraint("slot", "cert_id", "threshold_days"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slot: Mapped[str] = mapped_column(String(128))
    cert_id: Mapped[str] = mapped_column(String(64))
    threshold_days: Mapped[int] = mapped_column(Integer)
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    noticed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EventCursorRow(Base):
    """How far a webhook has been handed its events (claimed by one process at a time)."""

    __tablename__ = "event_cursors"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger)
    owner: Mapped[str | None] = mapped_column(String(128))  # the process holding the lease
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


# -- idempotency keys (issue 8) ------------------------------------------------------------------


class IdempotencyRow(Base):
    """A mutating call made with an ``Idempotency-Key``: stored with the change it made.

    The row is committed in the same transaction as the change (so a retry can
    never repeat it); the answer is added, sealed, once it has been sent.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("principal", "key", name="uq_idempotency_keys_principal_key"),
        Index("ix_idempotency_keys_request_id", "request_id"),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    principal: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(128))
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of method, path, query, body
    request_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    answer_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
