"""The feature store kept current from events.

Explicit handlers for the contracts that exist today (directory people, learning skill
improvement, KPI scores and growth, commission). Learning (training completion, mentor
ratings), talent (hires with their match score and pool) and the directory's separations
are being added by other services: ``register_tolerant`` reads whatever contracts of those
domains are registered when the app starts and maps their fields by name (an employee id
field plus any known signal field, a separation's date and reason, a hire's date), so
retention consumes them as soon as they exist, without a copy of their schema here. A
field it does not know is ignored, never guessed.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_retention.features import repository as repo
from zhanli_shared.db import utcnow
from zhanli_shared.directory import PeopleProjection
from zhanli_shared.events.consumer import HandlerRegistry
from zhanli_shared.events.contracts import all_contracts
from zhanli_shared.events.contracts.base import EventContract
from zhanli_shared.events.contracts.commission import CommissionCalculated
from zhanli_shared.events.contracts.directory import EmployeeUpserted
from zhanli_shared.events.contracts.kpi import KpiScoreUpdated, PerformanceGrowthMeasured
from zhanli_shared.events.contracts.learning import SkillImprovementMeasured
from zhanli_shared.events.envelope import CloudEvent

PERSON_FIELDS = ("employee_id", "person_id", "mentee_id", "salesperson_id")
# field name -> signal name (values: numbers)
SIGNAL_FIELDS: dict[str, str] = {
    "training_completion": "training_completion",
    "completion_rate": "training_completion",
    "overdue_courses": "overdue_courses",
    "overdue_count": "overdue_courses",
    "mentor_rating": "mentor_rating",
    "mentor_task_completion": "mentor_task_completion",
    "task_completion_rate": "mentor_task_completion",
    "match_score": "match_score",
}
# in a contract whose type names a mentor: "rating"/"score" is the mentor rating
MENTOR_RATING_FIELDS = ("rating", "score")
EXIT_DATE_FIELDS = (
    "left_on",
    "separated_on",
    "separation_date",
    "exit_date",
    "last_day",
    "effective_on",
)
EXIT_REASON_FIELDS = ("reason", "separation_type", "kind", "exit_type")
HIRE_DATE_FIELDS = ("hired_on", "start_date", "starts_on")
DAY_FIELDS = ("day", "date", "observed_on", "effective_on")
TIME_FIELDS = (
    "measured_at",
    "calculated_at",
    "rated_at",
    "occurred_at",
    "recorded_at",
    "hired_at",
    "at",
)
POOLS = {"elimination": 0.0, "eliminate": 0.0, "review": 1.0, "focus": 2.0}

EXPLICIT = {
    EmployeeUpserted.topic_name(),
    SkillImprovementMeasured.topic_name(),
    KpiScoreUpdated.topic_name(),
    PerformanceGrowthMeasured.topic_name(),
    CommissionCalculated.topic_name(),
}


def local_day(moment: dt.datetime, tz: str) -> dt.date:
    return moment.astimezone(zoneinfo.ZoneInfo(tz)).date()


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int | float | Decimal):
        return float(v)
    return None


def register(registry: HandlerRegistry, tz: str, people: PeopleProjection) -> None:
    """Every event retention consumes (the directory projection included: one handler per
    topic)."""

    @registry.on(EmployeeUpserted)
    async def on_employee(
        session: AsyncSession, event: EmployeeUpserted, envelope: CloudEvent
    ) -> None:
        await people.on_employee_upserted(session, event, envelope)
        await apply_employee(session, event, local_day(envelope.time, tz), envelope.id)

    @registry.on(SkillImprovementMeasured)
    async def on_skill(
        session: AsyncSession, event: SkillImprovementMeasured, envelope: CloudEvent
    ) -> None:
        await repo.ensure_person(session, event.employee_id)
        repo.add_signal(
            session,
            event.employee_id,
            "skill_improvement",
            float(event.improvement),
            local_day(event.measured_at, tz),
            envelope.type,
        )

    @registry.on(KpiScoreUpdated)
    async def on_kpi(session: AsyncSession, event: KpiScoreUpdated, envelope: CloudEvent) -> None:
        await repo.ensure_person(session, event.employee_id)
        repo.add_signal(
            session,
            event.employee_id,
            "kpi_score",
            float(event.score),
            local_day(event.calculated_at, tz),
            envelope.type,
        )

    @registry.on(PerformanceGrowthMeasured)
    async def on_growth(
        session: AsyncSession, event: PerformanceGrowthMeasured, envelope: CloudEvent
    ) -> None:
        await repo.ensure_person(session, event.employee_id)
        repo.add_signal(
            session,
            event.employee_id,
            "performance_growth",
            float(event.growth),
            event.day,
            envelope.type,
        )

    @registry.on(CommissionCalculated)
    async def on_commission(
        session: AsyncSession, event: CommissionCalculated, envelope: CloudEvent
    ) -> None:
        await repo.ensure_person(session, event.salesperson_id)
        repo.add_signal(
            session,
            event.salesperson_id,
            "commission_period_total",
            float(event.period_total),
            local_day(event.calculated_at, tz),
            envelope.type,
        )

    register_tolerant(registry, tz)


async def apply_employee(
    session: AsyncSession, event: EmployeeUpserted, day: dt.date, source: str
) -> None:
    row = await repo.ensure_person(session, event.employee_id)
    if row.manager_id is not None and event.manager_id != row.manager_id:
        repo.add_signal(session, event.employee_id, "manager_change", 1.0, day, source)
    row.manager_id = event.manager_id
    row.org_path = list(event.org_path)
    if event.hired_on is not None:
        row.hired_on = event.hired_on
    row.status = event.status.value
    if event.status.value == "left" and row.left_on is None:
        # Until the directory publishes the separation with its date and reason, the day
        # the status changed stands for it.
        row.left_on = day
        row.exit_reason = row.exit_reason or "unknown"
    elif event.status.value != "left" and row.exit_reason == "unknown":
        row.left_on = None  # a correction of the status
        row.exit_reason = None
    row.updated_at = utcnow()


def _field(event: EventContract, names: tuple[str, ...]) -> tuple[str, Any] | None:
    for n in names:
        if n in type(event).model_fields:
            v = getattr(event, n)
            if v is not None:
                return n, v
    return None


def _observed(event: EventContract, envelope: CloudEvent, tz: str) -> dt.date:
    f = _field(event, DAY_FIELDS)
    if f is not None and isinstance(f[1], dt.date) and not isinstance(f[1], dt.datetime):
        return f[1]
    f = _field(event, TIME_FIELDS)
    if f is not None and isinstance(f[1], dt.datetime):
        return local_day(f[1], tz)
    return local_day(envelope.time, tz)


def tolerant_handler(
    contract: type[EventContract], tz: str
) -> Callable[[AsyncSession, Any, CloudEvent], Any] | None:
    """A handler for a contract of learning, talent or the directory that this service was
    not written against, or None when nothing in it is of use."""
    fields = set(contract.model_fields)
    person_field = next((f for f in PERSON_FIELDS if f in fields), None)
    if person_field is None:
        return None
    etype = contract.event_type.lower()
    is_exit = any(w in etype for w in ("separat", "exit", "offboard", "resign", "terminat"))
    is_hire = "hire" in etype or "onboard" in etype
    is_mentor = "mentor" in etype
    is_target = "target" in etype
    signal_fields = {f: s for f, s in SIGNAL_FIELDS.items() if f in fields}
    if is_mentor:
        for f in MENTOR_RATING_FIELDS:
            if f in fields and "mentor_rating" not in signal_fields.values():
                signal_fields[f] = "mentor_rating"
    useful = (
        bool(signal_fields)
        or (is_exit and any(f in fields for f in EXIT_DATE_FIELDS))
        or (is_hire and any(f in fields for f in HIRE_DATE_FIELDS))
        or "pool" in fields
        or "mentor_id" in fields
        or (is_target and ("adjust" in etype or "change" in etype))
    )
    if not useful:
        return None

    async def handle(session: AsyncSession, event: Any, envelope: CloudEvent) -> None:
        eid = str(getattr(event, person_field))
        row = await repo.ensure_person(session, eid)
        day = _observed(event, envelope, tz)
        hire = _field(event, HIRE_DATE_FIELDS)
        hired_on = None
        if hire is not None and isinstance(hire[1], dt.date):
            hired_on = hire[1] if not isinstance(hire[1], dt.datetime) else hire[1].date()
        if is_hire and hired_on is not None:
            # What is known at the hire (match score, pool) is known from its first day.
            day = min(day, hired_on)
        for fname, name in signal_fields.items():
            v = _num(getattr(event, fname, None))
            if v is None:
                continue
            if name in ("training_completion", "mentor_task_completion") and v > 1.0:
                v = v / 100.0  # a percentage
            repo.add_signal(session, eid, name, v, day, envelope.type)
        pool = getattr(event, "pool", None)
        if isinstance(pool, str) and pool.lower() in POOLS:
            repo.add_signal(session, eid, "hire_pool", POOLS[pool.lower()], day, envelope.type)
        mentor = getattr(event, "mentor_id", None)
        if isinstance(mentor, str) and mentor and mentor != eid:
            row.mentor_id = mentor
        if hired_on is not None and (
            is_hire or (row.hired_on is None and hire is not None and hire[0] == "hired_on")
        ):
            row.hired_on = hired_on
        if is_exit:
            exit_ = _field(event, EXIT_DATE_FIELDS)
            if exit_ is not None and isinstance(exit_[1], dt.date):
                row.left_on = exit_[1] if not isinstance(exit_[1], dt.datetime) else exit_[1].date()
                reason = _field(event, EXIT_REASON_FIELDS)
                row.exit_reason = (
                    str(getattr(reason[1], "value", reason[1]))[:40] if reason else "other"
                )
                row.status = "left"
        if is_target and ("adjust" in etype or "change" in etype):
            repo.add_signal(session, eid, "target_adjustment", 1.0, day, envelope.type)
        row.updated_at = utcnow()

    return handle


def register_tolerant(registry: HandlerRegistry, tz: str) -> list[str]:
    """Register handlers for every useful contract of learning, talent, KPI target changes
    and directory separations registered today; returns their topics."""
    topics = []
    for topic, contract in all_contracts().items():
        if topic in EXPLICIT or topic in registry.handlers:
            continue
        if not contract.event_type.startswith(
            ("zhanli.learning.", "zhanli.talent.", "zhanli.directory.", "zhanli.kpi.")
        ):
            continue
        handler = tolerant_handler(contract, tz)
        if handler is not None:
            registry.on(contract)(handler)
            topics.append(topic)
    return topics
