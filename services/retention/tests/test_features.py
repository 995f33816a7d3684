"""The feature store follows the events: hires, manager changes, KPI, growth, commission,
separations; contracts of other services it was not written against are read tolerantly."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from pydantic import Field
from sqlalchemy import select

from zhanli_retention.features import handlers
from zhanli_retention.features.models import RetentionPerson, RetentionSignal
from zhanli_shared.events.contracts.base import EventContract
from zhanli_shared.events.contracts.commission import CommissionCalculated
from zhanli_shared.events.contracts.directory import EmployeeUpserted, EmploymentStatus
from zhanli_shared.events.contracts.kpi import KpiScoreUpdated, PerformanceGrowthMeasured
from zhanli_shared.events.envelope import CloudEvent
from zhanli_shared.testing.plugin import eventually

NOW = dt.datetime(2026, 11, 20, 3, 0, tzinfo=dt.UTC)


def employee(eid: str, manager: str | None, status: str = "probation") -> EmployeeUpserted:
    return EmployeeUpserted(
        employee_id=eid,
        name="张三",
        org_unit_id="u1",
        org_path=["root", "u1"],
        manager_id=manager,
        job_role="salesperson",
        status=EmploymentStatus(status),
        hired_on=dt.date(2026, 9, 1),
    )


async def test_events_feed_people_and_signals(retention) -> None:
    eid = f"e-{uuid.uuid4().hex[:10]}"
    for event in (
        employee(eid, "m1"),
        employee(eid, "m2"),
        KpiScoreUpdated(employee_id=eid, period="2026-10", score=Decimal("0.8"), calculated_at=NOW),
        PerformanceGrowthMeasured(
            employee_id=eid, day=dt.date(2026, 11, 19), growth=Decimal("0"), measured_at=NOW
        ),
        CommissionCalculated(
            commission_id="c1",
            salesperson_id=eid,
            deal_id="d1",
            period="2026-11",
            basis_amount=Decimal("1000"),
            rate=Decimal("0.1"),
            delta=Decimal("100"),
            period_total=Decimal("100"),
            currency="CNY",
            rule="base",
            calculated_at=NOW,
        ),
        employee(eid, "m2", "left"),
    ):
        await retention.publish(event)

    async def landed():
        async with retention.runtime.sessions() as s:
            p = await s.get(RetentionPerson, eid)
            names = sorted(
                (
                    await s.execute(
                        select(RetentionSignal.name).where(RetentionSignal.employee_id == eid)
                    )
                ).scalars()
            )
            return (p, names) if p and p.status == "left" and len(names) >= 4 else None

    person, names = await eventually(landed, timeout_s=90)
    assert person.hired_on == dt.date(2026, 9, 1) and person.left_on is not None
    assert person.exit_reason == "unknown"
    assert names == ["commission_period_total", "kpi_score", "manager_change", "performance_growth"]


class _Separation(EventContract):
    key_field = "employee_id"
    employee_id: str
    left_on: dt.date
    reason: str


class _Hire(EventContract):
    key_field = "employee_id"
    employee_id: str
    hired_on: dt.date
    match_score: float = Field(ge=0, le=100)
    pool: str
    mentor_id: str | None = None


class _Training(EventContract):
    key_field = "employee_id"
    employee_id: str
    completion_rate: float
    measured_at: dt.datetime


class _Unrelated(EventContract):
    key_field = "employee_id"
    employee_id: str
    note: str


# Set after class creation so that these test contracts stay out of the global registry.
_Separation.event_type = "zhanli.directory.employee_separated"
_Hire.event_type = "zhanli.talent.candidate_hired"
_Training.event_type = "zhanli.learning.training_progress"
_Unrelated.event_type = "zhanli.learning.note_added"


async def test_tolerant_handlers_read_contracts_by_field_names(retention) -> None:
    eid = f"t-{uuid.uuid4().hex[:10]}"
    env = CloudEvent(source="t", type="x", data={}, time=NOW)
    assert handlers.tolerant_handler(_Unrelated, "Asia/Shanghai") is None
    async with retention.runtime.sessions() as s:
        for contract, event in (
            (
                _Hire,
                _Hire(
                    employee_id=eid,
                    hired_on=dt.date(2026, 8, 3),
                    match_score=72.5,
                    pool="review",
                    mentor_id="men1",
                ),
            ),
            (_Training, _Training(employee_id=eid, completion_rate=65, measured_at=NOW)),
            (
                _Separation,
                _Separation(employee_id=eid, left_on=dt.date(2026, 11, 2), reason="resignation"),
            ),
        ):
            handler = handlers.tolerant_handler(contract, "Asia/Shanghai")
            assert handler is not None
            await handler(s, event, env)
        await s.commit()
        p = await s.get(RetentionPerson, eid)
        assert p is not None
        assert (p.hired_on, p.left_on, p.exit_reason, p.mentor_id, p.status) == (
            dt.date(2026, 8, 3),
            dt.date(2026, 11, 2),
            "resignation",
            "men1",
            "left",
        )
        rows = (
            await s.execute(
                select(RetentionSignal.name, RetentionSignal.value).where(
                    RetentionSignal.employee_id == eid
                )
            )
        ).all()
        assert sorted(rows) == [
            ("hire_pool", 1.0),
            ("match_score", 72.5),
            ("training_completion", 0.65),
        ]
