"""outbox parking and event retention

Revision ID: 22150a056cab
Revises: 9248cc59c43f
Create Date: 2026-12-05 08:00:00
"""

from collections.abc import Sequence

from zhanli_shared.migrations import (
    downgrade_event_tables_for_delivery,
    upgrade_event_tables_for_delivery,
)

revision: str = "22150a056cab"
down_revision: str | None = "9248cc59c43f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    upgrade_event_tables_for_delivery()


def downgrade() -> None:
    downgrade_event_tables_for_delivery()
