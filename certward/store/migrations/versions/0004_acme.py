"""acme accounts, orders, authorizations, challenges, nonces and EAB keys

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 08:28:56.128146
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "acme_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("ca_name", sa.String(length=64), nullable=False),
        sa.Column("profile", sa.String(length=64), nullable=False),
        sa.Column("thumbprint", sa.String(length=64), nullable=False),
        sa.Column("jwk", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("contact", sa.Text(), nullable=False),
        sa.Column("principal", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_from", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ca_name", "profile", "thumbprint", name="uq_acme_accounts_key"),
        sa.UniqueConstraint("public_id"),
    )
    with op.batch_alter_table("acme_accounts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_acme_accounts_created", ["created_from", "created_at"], unique=False
        )

    op.create_table(
        "acme_nonces",
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("value"),
    )
    with op.batch_alter_table("acme_nonces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_acme_nonces_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "acme_eab_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("principal", sa.String(length=64), nullable=False),
        sa.Column("hmac_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("used_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["used_by"],
            ["acme_accounts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_id"),
    )
    op.create_table(
        "acme_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("identifiers", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("certificate_serial", sa.String(length=42), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["acme_accounts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    with op.batch_alter_table("acme_orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_acme_orders_account_created", ["account_id", "created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_acme_orders_certificate_serial"), ["certificate_serial"], unique=False
        )

    op.create_table(
        "acme_authorizations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("identifier_type", sa.String(length=16), nullable=False),
        sa.Column("identifier", sa.String(length=255), nullable=False),
        sa.Column("wildcard", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["acme_orders.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    with op.batch_alter_table("acme_authorizations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_acme_authorizations_order_id"), ["order_id"], unique=False
        )

    op.create_table(
        "acme_challenges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("authorization_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("validated_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["authorization_id"],
            ["acme_authorizations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    with op.batch_alter_table("acme_challenges", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_acme_challenges_authorization_id"), ["authorization_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("acme_challenges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_acme_challenges_authorization_id"))

    op.drop_table("acme_challenges")
    with op.batch_alter_table("acme_authorizations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_acme_authorizations_order_id"))

    op.drop_table("acme_authorizations")
    with op.batch_alter_table("acme_orders", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_acme_orders_certificate_serial"))
        batch_op.drop_index("ix_acme_orders_account_created")

    op.drop_table("acme_orders")
    op.drop_table("acme_eab_keys")
    with op.batch_alter_table("acme_nonces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_acme_nonces_expires_at"))

    op.drop_table("acme_nonces")
    with op.batch_alter_table("acme_accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_acme_accounts_created")

    op.drop_table("acme_accounts")
