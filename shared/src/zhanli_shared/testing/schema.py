"""Do a member's SQLAlchemy models and its Alembic migrations agree? Migrate a fresh
database to head, then let Alembic's autogenerate compare the result with the models: any
difference is a migration someone forgot (or a model edited without one).

``tests/test_schema_matches_migrations.py`` runs this for every member with a database
(found by its ``migrations/env.py``), on SQLite and PostgreSQL, so a new service is
covered the day it exists."""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData

from zhanli_shared.db import create_engine
from zhanli_shared.migrations import upgrade
from zhanli_shared.settings import ServiceSettings


@dataclass(frozen=True)
class Member:
    """A workspace member with a database: ``zhanli_<name>`` with ``db.metadata``,
    ``settings`` (one ServiceSettings subclass) and ``migrations/``."""

    package: str

    @property
    def migrations(self) -> Path:
        module = importlib.import_module(self.package)
        assert module.__file__
        return Path(module.__file__).parent / "migrations"

    def metadata(self) -> MetaData:
        # What the member's migrations/env.py does: ``main`` imports every model.
        importlib.import_module(f"{self.package}.main")
        metadata = importlib.import_module(f"{self.package}.db").metadata
        assert isinstance(metadata, MetaData)
        return metadata

    def settings_class(self) -> type[ServiceSettings]:
        module = importlib.import_module(f"{self.package}.settings")
        found = [
            v
            for v in vars(module).values()
            if isinstance(v, type)
            and issubclass(v, ServiceSettings)
            and v is not ServiceSettings
            and v.__module__ == module.__name__
        ]
        assert len(found) == 1, f"{self.package}.settings: one ServiceSettings subclass, {found}"
        return found[0]


def members_with_migrations(root: Path) -> list[Member]:
    """Every member of the workspace under ``root`` whose package has ``migrations/env.py``."""
    found = []
    for env in sorted(root.glob("*/src/zhanli_*/migrations/env.py")) + sorted(
        root.glob("services/*/src/zhanli_*/migrations/env.py")
    ):
        found.append(Member(env.parent.parent.name))
    return found


def schema_drift(settings: ServiceSettings, migrations: Path, metadata: MetaData) -> list[Any]:
    """Migrate ``settings``' (fresh) database to head; return what autogenerate would still
    write for ``metadata`` (an empty list when models and migrations agree)."""
    upgrade(settings, migrations)
    return asyncio.run(_compare(settings, metadata))


async def _compare(settings: ServiceSettings, metadata: MetaData) -> list[Any]:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(settings.database_url, schema=settings.database_schema)

    def compare(connection: Any) -> list[Any]:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "compare_server_default": False},
        )
        return list(compare_metadata(context, metadata))

    try:
        async with engine.connect() as conn:
            return await conn.run_sync(compare)
    finally:
        await engine.dispose()
