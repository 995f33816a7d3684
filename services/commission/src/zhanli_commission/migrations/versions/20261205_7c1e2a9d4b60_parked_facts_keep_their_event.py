"""parked facts keep their event and a refusal

Revision ID: 7c1e2a9d4b60
Revises: 05b119cdb2b8
Create Date: 2026-12-05 08:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c1e2a9d4b60"
down_revision: str | None = "05b119cdb2b8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("commission_parked_facts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("event", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("refusal", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("commission_parked_facts", schema=None) as batch_op:
        batch_op.drop_column("refusal")
        batch_op.drop_column("event")
