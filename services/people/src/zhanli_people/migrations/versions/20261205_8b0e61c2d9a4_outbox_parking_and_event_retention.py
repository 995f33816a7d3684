"""outbox parking and event retention

Revision ID: 8b0e61c2d9a4
Revises: 3e5bcc813e44
Create Date: 2026-12-05 08:00:00
"""

from collections.abc import Sequence

from zhanli_shared.migrations import (
    downgrade_event_tables_for_delivery,
    upgrade_event_tables_for_delivery,
)

revision: str = "8b0e61c2d9a4"
down_revision: str | None = "3e5bcc813e44"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    upgrade_event_tables_for_delivery()


def downgrade() -> None:
    downgrade_event_tables_for_delivery()
