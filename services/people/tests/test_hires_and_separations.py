"""Hires from the talent service become people in probation; separations (API and HRIS
import) keep the date and reason and are published."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

import zhanli_people
from zhanli_people.main import create_app
from zhanli_people.settings import PeopleSettings
from zhanli_shared.events.contracts.talent import CandidateHired, MatchPool
from zhanli_shared.testing.plugin import DatabaseTarget, eventually
from zhanli_shared.testing.rows import outbox_rows_about
from zhanli_shared.testing.services import RunningService, running_service, service_settings

HR = ("hr1", ["hr_admin"])


@pytest.fixture(scope="module")
async def people(
    db_backend: str, broker, keypair, issuer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningService]:
    target = DatabaseTarget(db_backend, tmp_path_factory.mktemp("people-hires"), "people")
    settings = service_settings(PeopleSettings, target, broker, keypair[1])
    async with running_service(
        create_app, settings, Path(zhanli_people.__file__).parent / "migrations", issuer
    ) as svc:
        yield svc
    await target.cleanup()


async def unit(svc: RunningService) -> str:
    uid = f"U{uuid.uuid4().hex[:8]}"
    r = await svc.client.put(
        f"/api/v1/directory/org-units/{uid}",
        json={"org_unit_id": uid, "name": "货代销售组", "kind": "team"},
        headers=svc.auth(*HR),
    )
    assert r.status_code == 200, r.text
    return uid


def hire(employee_id: str, org_unit_id: str) -> CandidateHired:
    return CandidateHired(
        employee_id=employee_id,
        candidate_id=str(uuid.uuid4()),
        application_id=str(uuid.uuid4()),
        requisition_id=str(uuid.uuid4()),
        name="张伟",
        org_unit_id=org_unit_id,
        manager_id="NOBODY",
        job_role="salesperson",
        job_family="freight_sales",
        hired_on=dt.date(2026, 12, 7),
        match_score=Decimal("84.5"),
        pool=MatchPool.FOCUS,
        profile_version=2,
        hired_at=dt.datetime.now(dt.UTC),
    )


async def payloads(svc: RunningService, employee_id: str, topic: str) -> list[dict]:
    outbox = svc.runtime.tables.outbox
    async with svc.runtime.sessions() as session:
        rows = await outbox_rows_about(session, outbox, employee_id, topic=topic)
        out = []
        for event_id, _ in rows:
            raw = (
                await session.execute(select(outbox.c.payload).where(outbox.c.event_id == event_id))
            ).scalar_one()
            out.append(json.loads(raw)["data"])
    return out


async def test_a_hire_creates_the_person_in_probation_once(people: RunningService) -> None:
    svc = people
    uid = await unit(svc)
    employee_id = f"E{uuid.uuid4().hex[:8]}"
    event = hire(employee_id, uid)
    await svc.publish(event)
    await svc.publish(event)  # a second delivery, or a second hire event: nothing new

    async def created():
        r = await svc.client.get(
            f"/api/v1/directory/employees/{employee_id}", headers=svc.auth(*HR)
        )
        return r.json() if r.status_code == 200 else None

    person = await eventually(created)
    assert person["status"] == "probation" and person["hired_on"] == "2026-12-07"
    assert person["org_unit_id"] == uid and person["manager_id"] is None
    assert person["roles"] == ["salesperson"]

    async def one_upsert():
        found = await payloads(svc, employee_id, "zhanli.directory.employee_upserted.v1")
        return found if found else None

    [upserted] = await eventually(one_upsert)
    assert upserted["status"] == "probation"


async def test_separation_is_recorded_published_and_idempotent(people: RunningService) -> None:
    svc = people
    uid = await unit(svc)
    employee_id = f"E{uuid.uuid4().hex[:8]}"
    r = await svc.client.put(
        f"/api/v1/directory/employees/{employee_id}",
        json={
            "employee_id": employee_id,
            "name": "李四",
            "org_unit_id": uid,
            "job_role": "salesperson",
            "status": "probation",
            "hired_on": "2026-09-01",
        },
        headers=svc.auth(*HR),
    )
    assert r.status_code == 200, r.text
    url = f"/api/v1/directory/employees/{employee_id}/separation"
    early = await svc.client.put(
        url, json={"separated_on": "2026-08-01", "reason": "resignation"}, headers=svc.auth(*HR)
    )
    assert early.status_code == 422
    assert early.json()["errors"][0]["field"] == "separated_on"
    body = {
        "separated_on": "2026-11-15",
        "reason": "failed_probation",
        "reason_detail": "能力不匹配",
    }
    for _ in range(2):
        r = await svc.client.put(url, json=body, headers=svc.auth(*HR))
        assert r.status_code == 200, r.text
    person = r.json()
    assert person["status"] == "left" and person["separated_on"] == "2026-11-15"
    assert person["separation_reason"] == "failed_probation"
    [sep] = await payloads(svc, employee_id, "zhanli.directory.employee_separated.v1")
    assert sep["reason"] == "failed_probation" and sep["hired_on"] == "2026-09-01"
    assert sep["org_path"] == [uid]
    seller = await svc.client.put(url, json=body, headers=svc.auth("S1", ["salesperson"]))
    assert seller.status_code == 403


async def test_hris_import_records_separations(people: RunningService) -> None:
    svc = people
    uid = await unit(svc)
    a, b = f"E{uuid.uuid4().hex[:8]}", f"E{uuid.uuid4().hex[:8]}"
    csv = (
        "工号,姓名,部门,职位,入职日期,离职日期,离职原因,离职说明\n"
        f"{a},王五,{uid},销售,2026-03-01,2026-10-31,主动离职,家庭原因\n"
        f"{b},赵六,{uid},销售,2026-03-01,2026-10-31,,\n"
    )
    r = await svc.client.post(
        "/api/v1/directory/imports",
        content=csv.encode("gbk"),
        headers=svc.auth(*HR) | {"content-type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["rows_applied"] == 1 and job["rows_failed"] == 1
    assert job["errors"][0]["row"] == 3 and job["errors"][0]["field"] == "separation_reason"
    person = (
        await svc.client.get(f"/api/v1/directory/employees/{a}", headers=svc.auth(*HR))
    ).json()
    assert person["status"] == "left" and person["separation_reason"] == "resignation"
    assert person["separation_detail"] == "家庭原因"
    [sep] = await payloads(svc, a, "zhanli.directory.employee_separated.v1")
    assert sep["separated_on"] == "2026-10-31"
    again = await svc.client.post(
        "/api/v1/directory/imports",
        content=csv.encode("gbk"),
        headers=svc.auth(*HR) | {"content-type": "text/csv"},
    )
    assert again.json()["rows_unchanged"] == 1
    assert len(await payloads(svc, a, "zhanli.directory.employee_separated.v1")) == 1
