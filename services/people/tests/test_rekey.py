"""Rotating the data-encryption key ring while the directory is read and written: a new
key first in the ring (new values sealed with it, old ones still read), ``rekey``
re-wraps every stored value under it, then the old key is dropped; not one request fails
and nothing is left unreadable."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import or_, select

import zhanli_people
from zhanli_people.__main__ import encrypted_fields
from zhanli_people.directory.models import Employee
from zhanli_people.main import create_app
from zhanli_people.settings import PeopleSettings
from zhanli_shared.crypto import FieldCipher
from zhanli_shared.rekey import rekey
from zhanli_shared.testing.plugin import DatabaseTarget
from zhanli_shared.testing.services import RunningService, running_service, service_settings

ADMIN_PASSWORD = "rekey-admin-密码-1"


@pytest.fixture(scope="module")
async def people(
    db_backend: str, broker, keypair, issuer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningService]:
    target = DatabaseTarget(db_backend, tmp_path_factory.mktemp("people-rekey"), "people")
    settings = service_settings(
        PeopleSettings,
        target,
        broker,
        keypair[1],
        auth_private_key=SecretStr(keypair[0]),
        bootstrap_admin_password=SecretStr(ADMIN_PASSWORD),
        consumer_enabled=False,
    )
    async with running_service(
        create_app, settings, Path(zhanli_people.__file__).parent / "migrations", issuer
    ) as svc:
        yield svc
    await target.cleanup()


def phone_of(i: int) -> str:
    return f"139{i:08d}"


async def test_rotating_the_data_keys_under_load_leaves_nothing_unreadable(people) -> None:
    hr = people.auth("HR1", ["hr_admin"])
    unit = f"RK{uuid.uuid4().hex[:6]}"
    r = await people.client.put(
        f"/api/v1/directory/org-units/{unit}",
        headers=hr,
        json={"org_unit_id": unit, "name": "轮换测试", "kind": "team"},
    )
    assert r.status_code in (200, 201), r.text
    ids: list[str] = []

    async def hire(i: int) -> None:
        eid = f"{unit}-{i}"
        body = {
            "employee_id": eid,
            "name": f"员工{i}",
            "org_unit_id": unit,
            "job_role": "salesperson",
            "roles": ["salesperson"],
            "phone": phone_of(i),
            "id_number": f"11010119900307{i % 10000:04d}",
        }
        put = await people.client.put(f"/api/v1/directory/employees/{eid}", headers=hr, json=body)
        assert put.status_code == 200, put.text
        ids.append(eid)

    for i in range(40):
        await hire(i)
    old_kid = people.runtime.cipher.keyring.active_kid
    failures: list[str] = []
    reads = 0
    stop = asyncio.Event()

    async def flow() -> None:  # reads and writes without pause, all through the rotation
        nonlocal reads
        n = 1000
        while not stop.is_set():
            for eid in list(ids)[-25:] + list(ids)[:5]:
                got = await people.client.get(f"/api/v1/directory/employees/{eid}", headers=hr)
                if got.status_code != 200:
                    failures.append(f"GET {eid}: {got.status_code} {got.text[:200]}")
                reads += 1
            try:
                await hire(n)
            except AssertionError as exc:
                failures.append(f"PUT {n}: {exc}")
            n += 1

    flowing = asyncio.create_task(flow())
    try:
        await asyncio.sleep(0)  # the flow has started
        # 1. the new key first in the ring, the old one kept (a rolling restart's effect)
        rotated = people.runtime.cipher.keyring.rotated("k2")
        people.runtime.cipher = FieldCipher(rotated)
        # 2. re-wrap everything stored under the old key, while requests flow
        for _ in range(10):
            report = await rekey(people.runtime.sessions, people.runtime.cipher, encrypted_fields())
            assert report.unreadable == []
            if report.done and not any(report.rewrapped.values()):
                break
        else:
            raise AssertionError("rekey never converged")
        # 3. drop the old key
        people.runtime.cipher = FieldCipher(rotated.without(old_kid))
        before = reads
        while reads < before + 30:  # the flow goes on with the old key gone
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await flowing
    assert failures == []
    table = Employee.__table__
    async with people.runtime.sessions() as session:
        stale = (
            await session.execute(
                select(table.c.employee_id).where(
                    table.c.employee_id.like(f"{unit}-%"),
                    or_(
                        table.c.phone_enc.like(f"zv1.{old_kid}.%"),
                        table.c.id_number_enc.like(f"zv1.{old_kid}.%"),
                    ),
                )
            )
        ).all()
    assert stale == []
    for eid in ids:  # every value reads with the new ring alone
        got = await people.client.get(f"/api/v1/directory/employees/{eid}", headers=hr)
        assert got.status_code == 200, got.text
        i = int(eid.rsplit("-", 1)[1])
        assert phone_of(i)[-4:] in got.text
