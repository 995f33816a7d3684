"""`make run` on the var/ of an install older than the people service: the supervisor's
migration step finds the gateway's directory, users and API keys, migrates the people
service, carries them over, and only then migrates the gateway (which drops its copies)."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]  # seven migrations, twice


def _module(name: str, path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]


def test_the_supervisor_carries_an_older_gateway_database(tmp_path: Path) -> None:
    import zhanli_gateway
    from zhanli_gateway.settings import GatewaySettings
    from zhanli_shared import apikeys
    from zhanli_shared.crypto import FieldCipher
    from zhanli_shared.db import create_engine
    from zhanli_shared.migrations import upgrade
    from zhanli_shared.settings import ServiceSettings

    supervisor = _module("zhanli_supervisor_carry", ROOT / "deploy/embedded/supervisor.py")
    carry_test = _module(
        "zhanli_people_carry_test", ROOT / "tests/integration/test_people_carry.py"
    )
    var = tmp_path / "var"
    args = argparse.Namespace(
        var_dir=str(var),
        gateway_port=0,
        broker_port=0,
        port_base=None,
        database_url=None,
        schema_prefix="zhanli_",
    )
    platform = supervisor.Platform(args)
    keys = supervisor.ensure_secrets(var)
    env = platform.env_for(keys)
    assert not platform.gateway_holds_people(env)  # a fresh install: nothing to carry

    # the gateway of an older install, holding the directory
    gateway_db = var / "gateway.db"
    gw_settings = GatewaySettings(database_url=f"sqlite+aiosqlite:///{gateway_db}")
    upgrade(
        gw_settings, Path(zhanli_gateway.__file__).parent / "migrations", carry_test.BEFORE_PEOPLE
    )
    cipher = FieldCipher.from_settings(ServiceSettings(data_keys=keys["data"].read_text().strip()))
    key_id, secret, _ = apikeys.new_key()
    rows = carry_test._rows(cipher, key_id, secret)

    async def fill() -> None:
        engine = create_engine(gw_settings.database_url)
        async with engine.begin() as conn:
            for table in carry_test.TABLES:
                await conn.execute(table.insert(), rows[table.name])
        await engine.dispose()

    asyncio.run(fill())
    assert platform.gateway_holds_people(env)

    platform.migrate(env)

    people_db = var / "people.db"
    for name, found in rows.items():
        assert _count(people_db, name) == len(found), name
        assert name not in _tables(gateway_db), name
    assert not platform.gateway_holds_people(env)
    platform.migrate(env)  # the next start: nothing more to do, nothing doubled
    assert _count(people_db, "employees") == len(rows["employees"])
