"""audit log and webhooks moved to the audit service

The gateway owns neither any more. The audit chain is never dropped before it was
carried: a non-empty ``audit_log`` is dropped only when ``python -m zhanli_audit
import-from-gateway`` recorded (in ``audit_carried``) that it copied the chain up to its
last entry, and webhook tables still holding rows only then too; otherwise the upgrade
stops and says what to run (``make run`` does it by itself).

Revision ID: 3b8e5d2c9a61
Revises: 7f42f7725423
Create Date: 2026-12-05 08:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import zhanli_shared.db

revision: str = "3b8e5d2c9a61"
down_revision: str | None = "7f42f7725423"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MOVED = ("webhook_deliveries", "webhook_subscriptions", "audit_log")


def upgrade() -> None:
    bind = op.get_bind()
    present = set(sa.inspect(bind).get_table_names())
    if "audit_log" in present:
        head = bind.execute(
            sa.text("SELECT sequence, hash FROM audit_log ORDER BY sequence DESC LIMIT 1")
        ).first()
        holding = [
            name
            for name in ("webhook_subscriptions", "webhook_deliveries")
            if name in present
            and bind.execute(sa.text(f'SELECT 1 FROM "{name}" LIMIT 1')).first() is not None
        ]
        carried = "audit_carried" in present and (
            head is None
            or bind.execute(
                sa.text("SELECT 1 FROM audit_carried WHERE head_sequence = :s AND head_hash = :h"),
                {"s": head[0], "h": head[1]},
            ).first()
            is not None
        )
        if (head is not None or holding) and not carried:
            raise RuntimeError(
                "The gateway's audit chain and webhooks belong to the audit service now and "
                "were not carried there yet. Migrate the audit service and run `python -m "
                "zhanli_audit import-from-gateway --url <the gateway's database URL>` first "
                "(it copies them with every hash unchanged), then migrate the gateway again."
            )
    for name in MOVED:
        if name in present:
            op.drop_table(name)
    if "audit_carried" in present:
        op.drop_table("audit_carried")
    if bind.dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")


def downgrade() -> None:
    """The empty tables, as the gateway had them (the rows live in the audit service)."""
    op.create_table(
        "audit_log",
        sa.Column(
            "sequence",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("audit_id", sa.String(length=64), nullable=False),
        sa.Column("occurred_at", zhanli_shared.db.TZDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", zhanli_shared.db.TZDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.String(length=200), nullable=False),
        sa.Column("actor_kind", sa.String(length=32), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("entity_type", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.String(length=200), nullable=False),
        sa.Column("before", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("after", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.Column("service", sa.String(length=64), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("sequence", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("audit_id", name=op.f("uq_audit_log_audit_id")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index("ix_audit_log_action", ["action", "sequence"], unique=False)
        batch_op.create_index("ix_audit_log_actor", ["actor_id", "sequence"], unique=False)
        batch_op.create_index(
            "ix_audit_log_entity", ["entity_type", "entity_id", "sequence"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_audit_log_occurred_at"), ["occurred_at"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        # Append-only, enforced by the database itself (not only by the absence of an API).
        op.execute(
            """
            CREATE FUNCTION audit_log_append_only() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END;
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
        )

    op.create_table(
        "webhook_deliveries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=200), nullable=False),
        sa.Column("event", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("manual_retries", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", zhanli_shared.db.TZDateTime(timezone=True), nullable=True),
        sa.Column("last_attempt_at", zhanli_shared.db.TZDateTime(timezone=True), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("delivered_at", zhanli_shared.db.TZDateTime(timezone=True), nullable=True),
        sa.Column("created_at", zhanli_shared.db.TZDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_webhook_deliveries_event"),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_deliveries_due", ["state", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            "ix_webhook_deliveries_subscription", ["subscription_id", "id"], unique=False
        )

    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("secret_enc", sa.Text(), nullable=False),
        sa.Column("previous_secret_enc", sa.Text(), nullable=True),
        sa.Column(
            "previous_secret_expires_at", zhanli_shared.db.TZDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", zhanli_shared.db.TZDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", zhanli_shared.db.TZDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", zhanli_shared.db.TZDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_subscriptions")),
    )
