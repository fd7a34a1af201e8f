"""service nodes

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:15:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_nodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.String(length=128), nullable=False),
        sa.Column("url", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("node_id"),
    )
    with op.batch_alter_table("service_nodes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_nodes_heartbeat_at"), ["heartbeat_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("service_nodes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_nodes_heartbeat_at"))
    op.drop_table("service_nodes")
