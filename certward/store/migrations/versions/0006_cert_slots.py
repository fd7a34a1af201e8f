"""certificate manager: slots, slot certificates and CRLs, pending CSR keys, change events

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "cert_slots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "slot_certificates",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("slot", sa.String(length=128), nullable=False),
        sa.Column("cert_id", sa.String(length=64), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("key_record", sa.String(length=64), nullable=True),
        sa.Column("key_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("serial", sa.String(length=128), nullable=False),
        sa.Column("not_before", sa.DateTime(), nullable=False),
        sa.Column("not_after", sa.DateTime(), nullable=False),
        sa.Column("installed_at", sa.DateTime(), nullable=False),
        sa.Column("installed_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slot", "cert_id"),
        sa.UniqueConstraint("key_record"),
    )
    with op.batch_alter_table("slot_certificates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slot_certificates_slot"), ["slot"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_slot_certificates_not_after"), ["not_after"], unique=False
        )
    op.create_table(
        "slot_crls",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("slot", sa.String(length=128), nullable=False),
        sa.Column("file_name", sa.String(length=32), nullable=False),
        sa.Column("issuer", sa.Text(), nullable=False),
        sa.Column("crl_number", sa.String(length=64), nullable=True),
        sa.Column("this_update", sa.DateTime(), nullable=False),
        sa.Column("next_update", sa.DateTime(), nullable=True),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("installed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slot", "file_name"),
    )
    with op.batch_alter_table("slot_crls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slot_crls_slot"), ["slot"], unique=False)
    op.create_table(
        "slot_pending_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.String(length=128), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("record", sa.String(length=64), nullable=False),
        sa.Column("key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("public_key_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job_id"),
        sa.UniqueConstraint("record"),
    )
    with op.batch_alter_table("slot_pending_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slot_pending_keys_slot"), ["slot"], unique=False)
    op.create_table(
        "cert_events",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("slot", sa.String(length=128), nullable=False),
        sa.Column("cert_id", sa.String(length=64), nullable=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("cert_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cert_events_kind"), ["kind"], unique=False)

    # -- REDFISH (issue 5): CSR jobs, expiry notices, webhook cursors -------------------
    op.create_table(
        "csr_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("slot", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("key_type", sa.String(length=16), nullable=False),
        sa.Column("sign_with", sa.String(length=64), nullable=True),
        sa.Column("profile", sa.String(length=64), nullable=True),
        sa.Column("csr_pem", sa.Text(), nullable=True),
        sa.Column("certificate_id", sa.String(length=64), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("csr_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_csr_jobs_slot"), ["slot"], unique=False)
    op.create_table(
        "cert_expiry_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.String(length=128), nullable=False),
        sa.Column("cert_id", sa.String(length=64), nullable=False),
        sa.Column("threshold_days", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("noticed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slot", "cert_id", "threshold_days"),
    )
    op.create_table(
        "event_cursors",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    # -- end REDFISH --------------------------------------------------------------------


def downgrade() -> None:
    # -- REDFISH (issue 5) --------------------------------------------------------------
    op.drop_table("event_cursors")
    op.drop_table("cert_expiry_notices")
    with op.batch_alter_table("csr_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_csr_jobs_slot"))
    op.drop_table("csr_jobs")
    # -- end REDFISH --------------------------------------------------------------------
    with op.batch_alter_table("cert_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cert_events_kind"))
    op.drop_table("cert_events")
    with op.batch_alter_table("slot_pending_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slot_pending_keys_slot"))
    op.drop_table("slot_pending_keys")
    with op.batch_alter_table("slot_crls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slot_crls_slot"))
    op.drop_table("slot_crls")
    with op.batch_alter_table("slot_certificates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slot_certificates_not_after"))
        batch_op.drop_index(batch_op.f("ix_slot_certificates_slot"))
    op.drop_table("slot_certificates")
    op.drop_table("cert_slots")
