"""revenue per currency, refunds and cancellations

Revision ID: 3c1f7a2b9d10
Revises: 8a8944158c89
Create Date: 2026-12-05 10:40:00

A position is one currency (the key gains ``currency``); refunds and cancellations are
counted; the deals, customers and applied facts the projection needs to apply them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zhanli_shared.db

revision: str = "3c1f7a2b9d10"
down_revision: str | None = "8a8944158c89"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("revenue_positions", schema=None) as batch_op:
        batch_op.drop_constraint("pk_revenue_positions", type_="primary")
        batch_op.create_primary_key("pk_revenue_positions", ["employee_id", "period", "currency"])
        batch_op.add_column(
            sa.Column(
                "refunded",
                zhanli_shared.db.ExactDecimal(precision=20, scale=2),
                server_default="0",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column(
                "cancelled",
                zhanli_shared.db.ExactDecimal(precision=20, scale=2),
                server_default="0",
                nullable=False,
            )
        )
        batch_op.add_column(sa.Column("refunds", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("cancellations", sa.Integer(), server_default="0", nullable=False)
        )
    op.create_table(
        "revenue_deals",
        sa.Column("deal_id", sa.String(length=64), nullable=False),
        sa.Column("salesperson_id", sa.String(length=64), nullable=False),
        sa.Column("customer_name", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount", zhanli_shared.db.ExactDecimal(precision=20, scale=2), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("shares", sa.JSON(), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("closed_at", zhanli_shared.db.TZDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("deal_id", name=op.f("pk_revenue_deals")),
    )
    with op.batch_alter_table("revenue_deals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_revenue_deals_salesperson_id"), ["salesperson_id"], unique=False
        )
    op.create_table(
        "revenue_parked_cancellations",
        sa.Column("deal_id", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("parked_at", zhanli_shared.db.TZDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("deal_id", name=op.f("pk_revenue_parked_cancellations")),
    )
    op.create_table(
        "revenue_facts",
        sa.Column("fact_key", sa.String(length=100), nullable=False),
        sa.Column("applied_at", zhanli_shared.db.TZDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("fact_key", name=op.f("pk_revenue_facts")),
    )
    op.create_table(
        "revenue_customers",
        sa.Column("employee_id", sa.String(length=64), nullable=False),
        sa.Column("customer_name", sa.String(length=200), nullable=False),
        sa.Column("first_deal_id", sa.String(length=64), nullable=False),
        sa.Column("first_at", zhanli_shared.db.TZDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("employee_id", "customer_name", name=op.f("pk_revenue_customers")),
    )


def downgrade() -> None:
    op.drop_table("revenue_customers")
    op.drop_table("revenue_facts")
    op.drop_table("revenue_parked_cancellations")
    with op.batch_alter_table("revenue_deals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_revenue_deals_salesperson_id"))
    op.drop_table("revenue_deals")
    with op.batch_alter_table("revenue_positions", schema=None) as batch_op:
        batch_op.drop_column("cancellations")
        batch_op.drop_column("refunds")
        batch_op.drop_column("cancelled")
        batch_op.drop_column("refunded")
        batch_op.drop_constraint("pk_revenue_positions", type_="primary")
        batch_op.create_primary_key("pk_revenue_positions", ["employee_id", "period"])
