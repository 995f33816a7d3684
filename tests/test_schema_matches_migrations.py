"""Every member with a database: its models and its migrations agree. A fresh database
migrated to head leaves Alembic's autogenerate nothing to write, on SQLite and on
PostgreSQL. Members are found by their ``migrations/env.py``: a new service is covered
the day it exists."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from zhanli_shared.testing.plugin import DatabaseTarget
from zhanli_shared.testing.schema import Member, members_with_migrations, schema_drift

ROOT = Path(__file__).resolve().parents[1]
MEMBERS = members_with_migrations(ROOT)


def test_every_service_is_found() -> None:
    names = {m.package for m in MEMBERS}
    assert {"zhanli_gateway", "zhanli_commission", "zhanli_kpi"} <= names, names
    services = {p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").exists()}
    assert {f"zhanli_{s}" for s in services} <= names, names


@pytest.mark.parametrize("member", MEMBERS, ids=[m.package for m in MEMBERS])
async def test_models_and_migrations_agree(member: Member, db_backend: str, tmp_path: Path) -> None:
    target = DatabaseTarget(db_backend, tmp_path, member.package.removeprefix("zhanli_"))
    settings_cls = member.settings_class()
    values: dict[str, str] = {"database_url": target.url}
    if target.schema:
        values["database_schema"] = target.schema
    settings = settings_cls(**values)  # type: ignore[arg-type]
    try:
        drift = await asyncio.to_thread(
            schema_drift, settings, member.migrations, member.metadata()
        )
    finally:
        await target.cleanup()
    assert drift == [], (
        f"{member.package}: the models differ from the migrations at head; write a "
        f"migration (python -m {member.package} revision -m '...'):\n" + "\n".join(map(repr, drift))
    )
