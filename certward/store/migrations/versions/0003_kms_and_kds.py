"""kms keys and kds master keys

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 08:09:13.844127
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kds_master_keys",
        sa.Column("timestamp", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("timestamp"),
    )
    op.create_table(
        "kds_nodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.String(length=128), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("address", sa.LargeBinary(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        sa.Column("publisher", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("node_id"),
    )
    with op.batch_alter_table("kds_nodes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_kds_nodes_heartbeat_at"), ["heartbeat_at"], unique=False
        )

    op.create_table(
        "kms_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("spec", sa.String(length=32), nullable=False),
        sa.Column("usage", sa.String(length=32), nullable=False),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("primary_version", sa.Integer(), nullable=False),
        sa.Column("min_decryption_version", sa.Integer(), nullable=False),
        sa.Column("rotation_period_seconds", sa.BigInteger(), nullable=True),
        sa.Column("next_rotation_at", sa.DateTime(), nullable=True),
        sa.Column("deletion_date", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_id"),
    )
    with op.batch_alter_table("kms_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_kms_keys_next_rotation_at"), ["next_rotation_at"], unique=False
        )

    op.create_table(
        "kms_aliases",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(length=256), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["kms_keys.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("alias"),
    )
    with op.batch_alter_table("kms_aliases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kms_aliases_key_id"), ["key_id"], unique=False)

    op.create_table(
        "kms_import_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("wrapping_spec", sa.String(length=32), nullable=False),
        sa.Column("wrapping_algorithm", sa.String(length=32), nullable=False),
        sa.Column("wrapping_key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("public_der", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["kms_keys.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    with op.batch_alter_table("kms_import_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kms_import_tokens_key_id"), ["key_id"], unique=False)

    op.create_table(
        "kms_key_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("record", sa.String(length=96), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("material_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("public_der", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["kms_keys.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_id", "version", name="uq_kms_key_versions"),
        sa.UniqueConstraint("record"),
    )
    with op.batch_alter_table("kms_key_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_kms_key_versions_key_id"), ["key_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("kms_key_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kms_key_versions_key_id"))

    op.drop_table("kms_key_versions")
    with op.batch_alter_table("kms_import_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kms_import_tokens_key_id"))

    op.drop_table("kms_import_tokens")
    with op.batch_alter_table("kms_aliases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kms_aliases_key_id"))

    op.drop_table("kms_aliases")
    with op.batch_alter_table("kms_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kms_keys_next_rotation_at"))

    op.drop_table("kms_keys")
    with op.batch_alter_table("kds_nodes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kds_nodes_heartbeat_at"))

    op.drop_table("kds_nodes")
    op.drop_table("kds_master_keys")
