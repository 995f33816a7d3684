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


def test_every_member_with_a_database_is_found() -> None:
    names = {m.package for m in MEMBERS}
    assert {"zhanli_commission", "zhanli_kpi"} <= names, names
    # a member with tables (db.py) has migrations, and so is checked here (shared's db.py is
    # the library every member's db.py uses, with no tables of its own)
    with_tables = {
        db.parent.name
        for db in [*ROOT.glob("*/src/zhanli_*/db.py"), *ROOT.glob("services/*/src/zhanli_*/db.py")]
    } - {"zhanli_shared"}
    assert with_tables <= names, with_tables - names


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
