"""Alembic wiring every service reuses: ``env.py`` calls ``run_alembic_env``; the CLI
calls ``upgrade``. Each service's tables live in its own schema on PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import MetaData, pool
from sqlalchemy.ext.asyncio import create_async_engine

from zhanli_shared.db import normalise_url
from zhanli_shared.settings import ServiceSettings


def alembic_config(settings: ServiceSettings, script_location: Path):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    cfg.attributes["settings"] = settings
    return cfg


def upgrade(settings: ServiceSettings, script_location: Path, revision: str = "head") -> None:
    """Apply the service's migrations up to ``revision`` (an explicit step, never at start-up)."""
    from alembic import command

    command.upgrade(alembic_config(settings, script_location), revision)


def new_revision(settings: ServiceSettings, script_location: Path, message: str) -> None:
    """Autogenerate a revision from the models against a database at head (development)."""
    from alembic import command

    cfg = alembic_config(settings, script_location)
    command.upgrade(cfg, "head")
    command.revision(cfg, message=message, autogenerate=True)


def run_alembic_env(target_metadata: MetaData) -> None:
    """Body of each service's ``migrations/env.py``."""
    from alembic import context

    settings: ServiceSettings = context.config.attributes["settings"]
    url = normalise_url(settings.database_url)
    schema = settings.database_schema if url.startswith("postgresql") else None

    def do_run(connection):
        if schema:
            connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            connection.exec_driver_sql(f'SET search_path TO "{schema}"')
            connection.commit()
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table_schema=schema,
            render_as_batch=url.startswith("sqlite"),
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        if url.startswith("sqlite"):
            path = url.split(":///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as conn:
            await conn.run_sync(do_run)
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(
            url=url,
            target_metadata=target_metadata,
            literal_binds=True,
            version_table_schema=schema,
        )
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(main())


# Changes to the event tables every service shares (``events/outbox.py``): each service's
# migration calls these, so the shape stays one definition.


def upgrade_event_tables_for_delivery() -> None:
    """Outbox rows remember the broker incarnation that acknowledged them and can be
    parked; inbox rows can be purged by age (2026-12)."""
    import sqlalchemy as sa
    from alembic import op

    from zhanli_shared.db import TZDateTime

    with op.batch_alter_table("event_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sent_epoch", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("parked_at", TZDateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_event_outbox_parked_at", ["parked_at"], unique=False)
    with op.batch_alter_table("event_inbox", schema=None) as batch_op:
        batch_op.create_index("ix_event_inbox_processed_at", ["processed_at"], unique=False)


def downgrade_event_tables_for_delivery() -> None:
    from alembic import op

    with op.batch_alter_table("event_inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_event_inbox_processed_at")
    with op.batch_alter_table("event_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_event_outbox_parked_at")
        batch_op.drop_column("parked_at")
        batch_op.drop_column("sent_epoch")
