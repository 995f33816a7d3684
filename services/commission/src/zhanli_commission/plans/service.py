"""Plans: versions that never overlap, assignments (person > unit > role), quotas, and
resolving which plan version prices a person's period."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.core.assignment import (
    OPEN_END,
    choose_plan,
    covering,
    covers,
    period_quota,
    targets_of,
)
from zhanli_commission.core.plan import PlanRules
from zhanli_commission.plans.models import Plan, PlanAssignment, PlanVersion, Quota
from zhanli_commission.plans.schemas import AssignmentCreate, PlanCreate, VersionCreate
from zhanli_commission.settings import CommissionSettings
from zhanli_shared import audit
from zhanli_shared.auth import Principal
from zhanli_shared.db import utcnow
from zhanli_shared.directory import Person
from zhanli_shared.errors import Conflict, NotFound, Unprocessable
from zhanli_shared.events.outbox import Publisher


@dataclass(frozen=True)
class ResolvedPlan:
    plan_id: str | None
    version: int | None
    rules: PlanRules

    @property
    def rule_name(self) -> str:
        return f"{self.plan_id}@v{self.version}" if self.plan_id else "default"


def default_plan(settings: CommissionSettings) -> ResolvedPlan:
    """Without an assigned plan, the company default: a flat rate on collected money."""
    return ResolvedPlan(
        None,
        None,
        PlanRules(tier_mode="flat", rate=settings.flat_rate, rounding=settings.rounding),  # type: ignore[arg-type]
    )


def _overlaps(a_from: str, a_to: str | None, b_from: str, b_to: str | None) -> bool:
    return a_from <= (b_to or OPEN_END) and b_from <= (a_to or OPEN_END)


def _actor(actor: Principal | str) -> str:
    return actor if isinstance(actor, str) else actor.subject


def _check_quota(rules: PlanRules, field: str) -> None:
    if rules.needs_quota and rules.quota is None:
        raise Unprocessable(
            "A tiered plan (or one with a minimum attainment) needs a 'quota'; people's own "
            "quotas override it.",
            field=f"{field}.quota",
        )


async def get_plan(session: AsyncSession, plan_id: str) -> Plan | None:
    return await session.get(Plan, plan_id)


async def versions_of(session: AsyncSession, plan_id: str) -> list[PlanVersion]:
    stmt = select(PlanVersion).where(PlanVersion.plan_id == plan_id).order_by(PlanVersion.version)
    return list((await session.execute(stmt)).scalars())


async def create_plan(
    session: AsyncSession,
    publisher: Publisher,
    data: PlanCreate,
    *,
    actor: Principal | str,
    source_ip: str | None = None,
) -> tuple[Plan, list[PlanVersion]]:
    if await get_plan(session, data.plan_id) is not None:
        raise Conflict(f"Plan {data.plan_id!r} already exists.", field="plan_id")
    _check_quota(data.version.rules, "version.rules")
    plan = Plan(
        plan_id=data.plan_id,
        name=data.name,
        description=data.description,
        created_at=utcnow(),
        created_by=_actor(actor),
    )
    session.add(plan)
    await session.flush()
    version = await add_version(
        session, publisher, data.plan_id, data.version, actor=actor, source_ip=source_ip
    )
    return plan, [version]


async def add_version(
    session: AsyncSession,
    publisher: Publisher,
    plan_id: str,
    data: VersionCreate,
    *,
    actor: Principal | str,
    source_ip: str | None = None,
) -> PlanVersion:
    if await get_plan(session, plan_id) is None:
        raise NotFound(f"Unknown plan {plan_id!r}.")
    _check_quota(data.rules, "rules")
    existing = await versions_of(session, plan_id)
    for v in existing:
        if _overlaps(data.effective_from, data.effective_to, v.effective_from, v.effective_to):
            raise Conflict(
                f"Overlaps version {v.version} ({v.effective_from} to "
                f"{v.effective_to or 'open'}): end that version first or correct it.",
                field="effective_from",
            )
    version = PlanVersion(
        version_id=str(uuid.uuid4()),
        plan_id=plan_id,
        version=max((v.version for v in existing), default=0) + 1,
        effective_from=data.effective_from,
        effective_to=data.effective_to,
        rules=data.rules.model_dump(mode="json", by_alias=True),
        note=data.note,
        created_at=utcnow(),
        created_by=_actor(actor),
    )
    session.add(version)
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="commission.plan.version_added",
        entity_type="commission_plan",
        entity_id=f"{plan_id}@v{version.version}",
        before=None,
        after={
            "effective_from": version.effective_from,
            "effective_to": version.effective_to,
            "rules": version.rules,
        },
        source_ip=source_ip,
    )
    return version


async def end_version(
    session: AsyncSession,
    publisher: Publisher,
    plan_id: str,
    number: int,
    effective_to: str,
    *,
    actor: Principal | str,
    source_ip: str | None = None,
) -> PlanVersion:
    version = await get_version(session, plan_id, number)
    if effective_to < version.effective_from:
        raise Unprocessable("effective_to is before the version starts.", field="effective_to")
    before = version.effective_to
    version.effective_to = effective_to
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="commission.plan.version_ended",
        entity_type="commission_plan",
        entity_id=f"{plan_id}@v{number}",
        before={"effective_to": before},
        after={"effective_to": effective_to},
        source_ip=source_ip,
    )
    return version


async def get_version(session: AsyncSession, plan_id: str, number: int) -> PlanVersion:
    stmt = select(PlanVersion).where(PlanVersion.plan_id == plan_id, PlanVersion.version == number)
    version = (await session.execute(stmt)).scalar_one_or_none()
    if version is None:
        raise NotFound(f"Plan {plan_id!r} has no version {number}.")
    return version


async def assign(
    session: AsyncSession,
    publisher: Publisher,
    data: AssignmentCreate,
    *,
    person_exists: bool | None,
    actor: Principal | str,
    source_ip: str | None = None,
) -> PlanAssignment:
    if await get_plan(session, data.plan_id) is None:
        raise Unprocessable(f"Unknown plan {data.plan_id!r}.", field="plan_id")
    if data.target_type == "person" and not person_exists:
        raise Unprocessable(f"Unknown person {data.target_id!r}.", field="target_id")
    if data.effective_to is not None and data.effective_to < data.effective_from:
        raise Unprocessable("effective_to is before effective_from.", field="effective_to")
    stmt = select(PlanAssignment).where(
        PlanAssignment.target_type == data.target_type,
        PlanAssignment.target_id == data.target_id,
    )
    for other in (await session.execute(stmt)).scalars():
        if _overlaps(
            data.effective_from, data.effective_to, other.effective_from, other.effective_to
        ):
            raise Conflict(
                f"{data.target_type} {data.target_id!r} already has plan {other.plan_id!r} "
                f"from {other.effective_from}; end that assignment first.",
                field="effective_from",
            )
    row = PlanAssignment(
        assignment_id=str(uuid.uuid4()),
        created_at=utcnow(),
        created_by=_actor(actor),
        **data.model_dump(),
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="commission.plan.assigned",
        entity_type="commission_plan_assignment",
        entity_id=row.assignment_id,
        before=None,
        after=data.model_dump(),
        source_ip=source_ip,
    )
    return row


async def assignments(session: AsyncSession, plan_id: str | None = None) -> list[PlanAssignment]:
    stmt = select(PlanAssignment).order_by(PlanAssignment.created_at)
    if plan_id:
        stmt = stmt.where(PlanAssignment.plan_id == plan_id)
    return list((await session.execute(stmt)).scalars())


def _covers(row: PlanAssignment | PlanVersion, period: str) -> bool:
    return covers(row.effective_from, row.effective_to, period)


async def resolve_plan(
    session: AsyncSession, person: Person, period: str, settings: CommissionSettings
) -> ResolvedPlan:
    """The plan version that prices ``person`` in ``period`` (``core.assignment``)."""
    targets = targets_of(person.employee_id, person.org_path, person.job_role)
    stmt = select(PlanAssignment).where(
        PlanAssignment.target_id.in_([t[1] for t in targets]),
        PlanAssignment.effective_from <= period,
    )
    assigned = {
        (r.target_type, r.target_id): r.plan_id
        for r in (await session.execute(stmt)).scalars()
        if _covers(r, period)
    }
    plan_id = choose_plan(targets, assigned)
    if plan_id is None:
        return default_plan(settings)
    vstmt = select(PlanVersion).where(
        PlanVersion.plan_id == plan_id, PlanVersion.effective_from <= period
    )
    versions = covering(
        ((v.effective_from, v.effective_to, v) for v in (await session.execute(vstmt)).scalars()),
        period,
    )
    if not versions:
        return default_plan(settings)
    version = max(versions, key=lambda v: v.version)
    return ResolvedPlan(plan_id, version.version, PlanRules.model_validate(version.rules))


async def set_quota(
    session: AsyncSession,
    publisher: Publisher,
    person_id: str,
    period: str,
    amount: Decimal,
    *,
    actor: Principal | str,
    source_ip: str | None = None,
) -> Quota:
    row = await session.get(Quota, (person_id, period))
    before = {"amount": row.amount} if row else None
    if row is None:
        row = Quota(
            salesperson_id=person_id,
            period=period,
            amount=amount,
            updated_at=utcnow(),
            updated_by=_actor(actor),
        )
        session.add(row)
    else:
        row.amount = amount
        row.updated_at = utcnow()
        row.updated_by = _actor(actor)
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="commission.quota.set",
        entity_type="commission_quota",
        entity_id=f"{person_id}/{period}",
        before=before,
        after={"amount": amount},
        source_ip=source_ip,
    )
    return row


async def quota_for(
    session: AsyncSession, person: Person, period: str, rules: PlanRules
) -> tuple[Decimal | None, str]:
    """A person's own quota, else the plan's prorated and ramped (``core.assignment``)."""
    own = await session.get(Quota, (person.employee_id, period))
    return period_quota(
        own.amount if own is not None else None,
        rules.quota,
        period,
        hired_on=person.hired_on,
        ramp=rules.ramp,
    )
