"""outbox parking and event retention

Revision ID: d79624ee567d
Revises: 224bb18c1fa7
Create Date: 2026-12-05 08:00:00
"""

from collections.abc import Sequence

from zhanli_shared.migrations import (
    downgrade_event_tables_for_delivery,
    upgrade_event_tables_for_delivery,
)

revision: str = "d79624ee567d"
down_revision: str | None = "224bb18c1fa7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    upgrade_event_tables_for_delivery()


def downgrade() -> None:
    downgrade_event_tables_for_delivery()
