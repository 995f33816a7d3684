"""An install older than the people service keeps its directory, local users, import jobs and
API keys in the gateway's database. ``python -m zhanli_people import-from-gateway`` moves
them; the gateway's migration that drops those tables refuses while they still hold rows.
After the move the people service signs the old users in, reads the old encrypted phone
numbers with the same data keys, and answers the gateway's look-up of the old key."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from alembic.util.exc import CommandError
from pydantic import SecretStr
from sqlalchemy import inspect, select

import zhanli_gateway
import zhanli_people
from zhanli_gateway.settings import GatewaySettings
from zhanli_people.apikeys.models import ApiKey
from zhanli_people.carry import TABLES, carry, cli
from zhanli_people.directory.models import Employee
from zhanli_people.directory.service import personal_context
from zhanli_people.identity.passwords import hash_password
from zhanli_people.main import create_app
from zhanli_people.settings import PeopleSettings
from zhanli_shared import apikeys
from zhanli_shared.crypto import FieldCipher, KeyRing
from zhanli_shared.db import create_engine
from zhanli_shared.migrations import upgrade
from zhanli_shared.testing.plugin import DatabaseTarget
from zhanli_shared.testing.services import running_service, service_settings

GATEWAY_MIGRATIONS = Path(zhanli_gateway.__file__).parent / "migrations"
PEOPLE_MIGRATIONS = Path(zhanli_people.__file__).parent / "migrations"
BEFORE_PEOPLE = "3b8e5d2c9a61"  # the gateway's last revision that held the directory
NOW = dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)


def _rows(cipher: FieldCipher, key_id: str, secret: str) -> dict[str, list[dict]]:
    return {
        "org_units": [
            {
                "org_unit_id": "OLD-G",
                "name": "老集团",
                "kind": "group",
                "parent_id": None,
                "manager_id": "OLD-M",
                "path": ["OLD-G"],
                "updated_at": NOW,
            }
        ],
        "employees": [
            {
                "employee_id": eid,
                "name": name,
                "org_unit_id": "OLD-G",
                "manager_id": None,
                "job_role": role,
                "roles": [role],
                "status": "active",
                "hired_on": dt.date(2025, 3, 1),
                "phone_enc": cipher.encrypt(phone, context=personal_context(eid, "phone")),
                "id_number_enc": None,
                "updated_at": NOW,
            }
            for eid, name, role, phone in (
                ("OLD-M", "老经理", "sales_manager", "13900001111"),
                ("OLD-S", "老销售", "salesperson", "13900002222"),
            )
        ],
        "directory_imports": [
            {
                "id": "00000000-0000-0000-0000-0000000000aa",
                "status": "succeeded",
                "dry_run": False,
                "media_type": "text/csv",
                "created_by": "hris-sync",
                "rows_read": 2,
                "rows_applied": 2,
                "rows_unchanged": 0,
                "rows_failed": 0,
                "counts": {"employees_created": 2},
                "errors": [],
                "errors_truncated": False,
                "changes": [],
                "changes_truncated": False,
                "created_at": NOW,
                "updated_at": NOW,
                "finished_at": NOW,
            }
        ],
        "local_users": [
            {
                "username": "old-manager",
                "password_hash": hash_password("old-password-1"),
                "employee_id": "OLD-M",
                "roles": ["sales_manager"],
                "active": True,
                "created_at": NOW,
            }
        ],
        "api_keys": [
            {
                "key_id": key_id,
                "secret_hash": apikeys.hash_secret(key_id, secret),
                "name": "老 CRM",
                "owner": "it",
                "roles": ["integration"],
                "created_by": "admin",
                "created_at": NOW,
                "expires_at": None,
                "revoked_at": None,
                "revoked_by": None,
                "last_used_at": None,
            }
        ],
    }


async def _tables(target: DatabaseTarget) -> set[str]:
    engine = create_engine(target.url, schema=target.schema, pool_size=1)
    try:
        async with engine.connect() as conn:
            return set(
                await conn.run_sync(
                    lambda c: inspect(c).get_table_names(
                        schema=target.schema if c.dialect.name == "postgresql" else None
                    )
                )
            )
    finally:
        await engine.dispose()


async def test_an_older_install_is_carried_into_the_people_service(
    db_backend: str, broker, keypair, issuer, tmp_path: Path
) -> None:
    gw_target = DatabaseTarget(db_backend, tmp_path, "gateway")
    pp_target = DatabaseTarget(db_backend, tmp_path, "people")
    data_keys = KeyRing.generate("old1").to_text()
    cipher = FieldCipher.from_settings(PeopleSettings(data_keys=data_keys))
    key_id, secret, key = apikeys.new_key()
    try:
        gw_settings = GatewaySettings(database_url=gw_target.url, database_schema=gw_target.schema)
        # the gateway as it was, holding the directory
        await asyncio.to_thread(upgrade, gw_settings, GATEWAY_MIGRATIONS, BEFORE_PEOPLE)
        rows = _rows(cipher, key_id, secret)
        engine = create_engine(gw_target.url, schema=gw_target.schema, pool_size=1)
        async with engine.begin() as conn:
            for table in TABLES:
                await conn.execute(table.insert(), rows[table.name])
        await engine.dispose()

        # the gateway's upgrade refuses to drop tables that still hold rows
        with pytest.raises((RuntimeError, CommandError), match="import-from-gateway"):
            await asyncio.to_thread(upgrade, gw_settings, GATEWAY_MIGRATIONS)

        settings = service_settings(
            PeopleSettings,
            pp_target,
            broker,
            keypair[1],
            auth_private_key=SecretStr(keypair[0]),
            data_keys=data_keys,
        )
        await asyncio.to_thread(upgrade, settings, PEOPLE_MIGRATIONS)
        carried = await carry(gw_target.url, gw_target.schema, settings)
        expected = {name: len(r) for name, r in rows.items()}
        assert {c.table: c.found for c in carried} == expected
        assert {c.table: c.copied for c in carried} == expected
        assert {c.table: c.removed for c in carried} == expected
        # again: nothing left to carry, nothing copied twice
        again = await carry(gw_target.url, gw_target.schema, settings)
        assert all(c.found == c.copied == c.removed == 0 for c in again), again

        # now the gateway lets go of its tables
        await asyncio.to_thread(upgrade, gw_settings, GATEWAY_MIGRATIONS)
        assert not {t.name for t in TABLES} & await _tables(gw_target)

        async with running_service(create_app, settings, PEOPLE_MIGRATIONS, issuer) as people:
            async with people.runtime.sessions() as s:
                stored = await s.get(Employee, "OLD-S")
                assert stored is not None and stored.phone_enc == rows["employees"][1]["phone_enc"]
                assert (await s.get(ApiKey, key_id)).secret_hash == apikeys.hash_secret(
                    key_id, secret
                )
            # the old user signs in, with the scope of the old org tree
            r = await people.client.post(
                "/api/v1/auth/token",
                json={"username": "old-manager", "password": "old-password-1"},
            )
            assert r.status_code == 200, r.text
            manager = people.runtime.verifier.verify(r.json()["access_token"])
            assert manager.subject == "OLD-M" and manager.org_units == {"OLD-G"}
            # the old ciphertexts read with the same data keys
            hr = people.auth("HR1", ["hr_admin"])
            person = await people.client.get("/api/v1/directory/employees/OLD-S", headers=hr)
            assert person.status_code == 200 and person.json()["phone"] == "13900002222"
            job = await people.client.get(
                "/api/v1/directory/imports/00000000-0000-0000-0000-0000000000aa", headers=hr
            )
            assert job.status_code == 200 and job.json()["rows_applied"] == 2
            # the gateway's look-up of the old key
            gateway = {
                "authorization": "Bearer "
                + people.issuer.issue("service:gateway", [], kind="service")
            }
            state = await people.client.get(f"/internal/v1/api-keys/{key_id}", headers=gateway)
            assert state.status_code == 200, state.text
            assert state.json()["known"] and apikeys.secret_matches(
                key_id, apikeys.parse_key(key)[1], state.json()["secret_hash"]
            )
            async with people.runtime.sessions() as s:
                no_events = (
                    await s.execute(select(people.runtime.tables.outbox.c.topic))
                ).scalars()
                assert "zhanli.directory.employee_upserted.v1" not in set(no_events)
    finally:
        await gw_target.cleanup()
        await pp_target.cleanup()


def test_nothing_to_carry_from_a_gateway_that_never_was(tmp_path: Path, capsys) -> None:
    assert cli(["--url", f"sqlite:///{tmp_path / 'absent.db'}"]) == 0
    assert "nothing to carry" in capsys.readouterr().out
    assert not (tmp_path / "absent.db").exists()


def test_the_gateways_url_may_come_from_its_environment(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    """How the chart's hook Job runs it: the gateway's database URL from the environment."""
    monkeypatch.delenv("ZHANLI_GATEWAY_DATABASE_URL", raising=False)
    with pytest.raises(SystemExit) as usage:
        cli([])
    assert usage.value.code == 2 and "ZHANLI_GATEWAY_DATABASE_URL" in capsys.readouterr().err
    monkeypatch.setenv("ZHANLI_GATEWAY_DATABASE_URL", f"sqlite:///{tmp_path / 'absent.db'}")
    assert cli([]) == 0
    assert "nothing to carry" in capsys.readouterr().out
