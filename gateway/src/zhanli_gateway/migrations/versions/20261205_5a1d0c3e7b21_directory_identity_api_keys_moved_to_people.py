"""directory, local users, import jobs and API keys moved to the people service

The gateway owns none of these tables any more. A table still holding rows is not dropped:
the upgrade stops and says how to carry them (``python -m zhanli_people import-from-gateway
--url <this database>``, which moves them; ``make run`` does it by itself), so an upgrade
never loses a person, a user or a key.

Revision ID: 5a1d0c3e7b21
Revises: 3b8e5d2c9a61
Create Date: 2026-12-05 08:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zhanli_shared.db

revision: str = "5a1d0c3e7b21"
down_revision: str | None = "3b8e5d2c9a61"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOVED = ("api_keys", "directory_imports", "local_users", "employees", "org_units")


def upgrade() -> None:
    bind = op.get_bind()
    present = set(sa.inspect(bind).get_table_names())
    holding = [
        name
        for name in MOVED
        if name in present
        and bind.execute(sa.text(f'SELECT 1 FROM "{name}" LIMIT 1')).first() is not None
    ]
    if holding:
        raise RuntimeError(
            "The gateway's tables " + ", ".join(holding) + " still hold rows: they belong to "
            "the people service now. Migrate it and run `python -m zhanli_people "
            "import-from-gateway --url <the gateway's database URL>` first (it moves them), "
            "then migrate the gateway again."
        )
    for name in MOVED:
        if name in present:
            op.drop_table(name)


def downgrade() -> None:
    op.create_table(
        "org_units",
        sa.Column("org_unit_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("parent_id", sa.String(length=64), nullable=True),
        sa.Column("manager_id", sa.String(length=64), nullable=True),
        sa.Column("path", sa.JSON(), nullable=False),
        sa.Column("updated_at", zhanli_shared.db.TZDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("org_unit_id", name=op.f("pk_org_units")),
    )
    with op.batch_alter_table("org_units", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_org_units_manager_id"), ["manager_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_org_units_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "employees",
        sa.Column("employee_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("org_unit_id", sa.String(length=64), nullable=False),
        sa.Column("manager_id", sa.String(length=64), nullable=True),
        sa.Column("job_role", sa.String(length=64), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("hired_on", sa.Date(), nullable=True),
        sa.Column("phone_enc", sa.Text(), nullable=True),
        sa.Column("id_number_enc", sa.Text(), nullable=True),
        sa.Column("updated_at", zhanli_shared.db.TZDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("employee_id", name=op.f("pk_employees")),
    )
    with op.batch_alter_table("employees", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_employees_org_unit_id"), ["org_unit_id"], unique=False)

    op.create_table(
        "local_users",
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=300), nullable=False),
        sa.Column("employee_id", sa.String(length=64), nullable=True),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", zhanli_shared.db.TZDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_local_users")),
    )

    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", zhanli_shared.db.TZDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", zhanli_shared.db.TZDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", zhanli_shared.db.TZDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.Column("last_used_at", zhanli_shared.db.TZDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_api_keys")),
    )

    op.create_table(
        "directory_imports",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("rows_applied", sa.Integer(), nullable=False),
        sa.Column("rows_unchanged", sa.Integer(), nullable=False),
        sa.Column("rows_failed", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("errors_truncated", sa.Boolean(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("changes_truncated", sa.Boolean(), nullable=False),
        sa.Column("created_at", zhanli_shared.db.TZDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", zhanli_shared.db.TZDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", zhanli_shared.db.TZDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_imports")),
    )
    with op.batch_alter_table("directory_imports", schema=None) as batch_op:
        batch_op.create_index("ix_directory_imports_created", ["created_at"], unique=False)
