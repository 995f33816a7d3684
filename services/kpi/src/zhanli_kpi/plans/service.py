"""KPI plans: validated whole (every indicator known, weights totalling exactly 100 %,
every curve able to score its target) before anything is saved; assignments effective-
dated and never overlapping for one target; the plan of a person's period resolved like
commission plans (person > deepest unit > job role; a salesperson on probation first
looks for a ``<role>_new`` plan)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_kpi.auditing import exact
from zhanli_kpi.core import curves
from zhanli_kpi.core.curves import Band, Curve, CurveError
from zhanli_kpi.indicators import repository as indicators
from zhanli_kpi.plans import repository
from zhanli_kpi.plans.models import KpiPlan, KpiPlanAssignment, KpiTarget
from zhanli_kpi.plans.schemas import AssignmentCreate, CascadeWrite, PlanRead, PlanWrite, TargetSet
from zhanli_shared import audit
from zhanli_shared.auth import Principal
from zhanli_shared.db import utcnow
from zhanli_shared.directory import Person
from zhanli_shared.errors import Conflict, NotFound, Unprocessable
from zhanli_shared.events.outbox import Publisher

HUNDRED = Decimal(100)


def to_curve(spec: Mapping[str, Any]) -> Curve:
    return Curve(
        kind=spec.get("kind", "higher"),
        cap=spec.get("cap"),
        floor=spec.get("floor"),
        baseline=spec.get("baseline"),
        tolerance=spec.get("tolerance"),
        bands=tuple(Band(b["from_completion"], b["score"]) for b in spec.get("bands") or ()),
    )


def check_plan(body: PlanWrite, library: Mapping[str, Any]) -> None:
    seen: set[str] = set()
    for i, line in enumerate(body.lines):
        where = f"lines[{i}]"
        if line.indicator not in library:
            raise Unprocessable(
                f"Unknown indicator {line.indicator!r}.", field=f"{where}.indicator"
            )
        if line.indicator in seen:
            raise Unprocessable(
                f"{line.indicator!r} is in the plan twice.", field=f"{where}.indicator"
            )
        seen.add(line.indicator)
        try:
            curves.check(to_curve(line.curve.model_dump()), line.target)
        except CurveError as exc:
            field = "target" if exc.field == "target" else f"curve.{exc.field}"
            raise Unprocessable(exc.message, field=f"{where}.{field}") from exc
    total = sum((line.weight for line in body.lines), Decimal(0))
    if total != HUNDRED:
        raise Unprocessable(f"The weights total {total} %, not 100 %.", field="lines.weight")


def _plan_json(plan: KpiPlan) -> dict[str, Any]:
    return PlanRead.model_validate(plan).model_dump(mode="json")


async def put_plan(
    session: AsyncSession,
    publisher: Publisher,
    plan_id: str,
    body: PlanWrite,
    *,
    actor: Principal,
    source_ip: str | None,
) -> tuple[KpiPlan, bool]:
    check_plan(body, await indicators.all_indicators(session))
    plan = await repository.get_plan(session, plan_id)
    before = _plan_json(plan) if plan else None
    created = plan is None
    if plan is None:
        plan = KpiPlan(plan_id=plan_id, version=0)
        session.add(plan)
    plan.name_zh, plan.name_en, plan.level = body.name_zh, body.name_en, body.level
    plan.description = body.description
    plan.lines = [line.model_dump(mode="json") for line in body.lines]
    plan.version += 1
    plan.updated_at, plan.updated_by = utcnow(), actor.subject
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="kpi.plan.created" if created else "kpi.plan.updated",
        entity_type="kpi_plan",
        entity_id=plan_id,
        before=exact(before),
        after=exact(_plan_json(plan)),
        source_ip=source_ip,
    )
    return plan, created


async def assign(
    session: AsyncSession,
    publisher: Publisher,
    body: AssignmentCreate,
    *,
    actor: Principal,
    source_ip: str | None,
) -> KpiPlanAssignment:
    if await repository.get_plan(session, body.plan_id) is None:
        raise Unprocessable(f"Unknown plan {body.plan_id!r}.", field="plan_id")
    if body.effective_to is not None and body.effective_to < body.effective_from:
        raise Unprocessable("effective_to is before effective_from.", field="effective_to")
    clash = await repository.overlapping(
        session, body.target_type, body.target_id, body.effective_from, body.effective_to
    )
    if clash is not None:
        raise Conflict(
            f"{body.target_type} {body.target_id} already has plan {clash.plan_id!r} from "
            f"{clash.effective_from} to {clash.effective_to or 'open end'}; end it first."
        )
    row = KpiPlanAssignment(
        assignment_id=str(uuid.uuid4()),
        created_at=utcnow(),
        created_by=actor.subject,
        **body.model_dump(),
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="kpi.plan.assigned",
        entity_type="kpi_plan_assignment",
        entity_id=row.assignment_id,
        before=None,
        after=exact(body.model_dump(mode="json")),
        source_ip=source_ip,
    )
    return row


def targets_of(person: Person) -> list[tuple[str, str]]:
    """Assignment targets that can reach a person, most specific first."""
    roles = [person.job_role]
    if person.status == "probation":
        roles.insert(0, f"{person.job_role}_new")
    return [
        ("person", person.employee_id),
        *(("unit", unit) for unit in reversed(person.org_path)),
        *(("role", role) for role in roles),
    ]


async def plan_for(session: AsyncSession, person: Person, period: str) -> KpiPlan | None:
    targets = targets_of(person)
    found = {
        (a.target_type, a.target_id): a
        for a in await repository.assignments_for(session, targets, period)
    }
    chosen = next((found[t] for t in targets if t in found), None)
    return await repository.get_plan(session, chosen.plan_id) if chosen else None


async def set_target(
    session: AsyncSession,
    publisher: Publisher,
    scope_type: str,
    scope_id: str,
    period: str,
    indicator: str,
    body: TargetSet,
    *,
    actor: Principal,
    source_ip: str | None,
    parent_id: str | None = None,
    weight: float | None = None,
) -> KpiTarget:
    ind = await indicators.get(session, indicator)
    if ind is None:
        raise NotFound(f"Unknown indicator {indicator!r}.")
    if ind.direction in ("higher", "lower") and body.target <= 0:
        raise Unprocessable("A ratio-scored indicator needs a target above 0.", field="target")
    row = await repository.target(session, scope_type, scope_id, period, indicator)
    before = {"target": row.target} if row else None
    if row is None:
        row = KpiTarget(
            target_id=str(uuid.uuid4()),
            scope_type=scope_type,
            scope_id=scope_id,
            period=period,
            indicator=indicator,
        )
        session.add(row)
    row.target = body.target
    row.bonus_threshold, row.bonus_points = body.bonus_threshold, body.bonus_points
    if parent_id is not None:
        row.parent_id, row.weight = parent_id, weight
    row.updated_at, row.updated_by = utcnow(), actor.subject
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="kpi.target.set",
        entity_type="kpi_target",
        entity_id=f"{scope_type}:{scope_id}:{period}:{indicator}",
        before=exact(before),
        after=exact({"target": body.target, "parent_id": parent_id, "weight": weight}),
        source_ip=source_ip,
    )
    return row


async def cascade(
    session: AsyncSession,
    publisher: Publisher,
    unit_id: str,
    period: str,
    indicator: str,
    body: CascadeWrite,
    *,
    children_kinds: Mapping[str, str],
    actor: Principal,
    source_ip: str | None,
) -> list[KpiTarget]:
    """The unit's target, and each child's share of it by weight (people and sub-units)."""
    total_weight = sum(body.children.values())
    if total_weight <= 0 or any(w < 0 for w in body.children.values()):
        raise Unprocessable(
            "Children weights must be 0 or more, with a total above 0.", field="children"
        )
    for child in body.children:
        if child not in children_kinds:
            raise Unprocessable(
                f"{child!r} is neither a person nor a unit below {unit_id}.", field="children"
            )
    out = [
        await set_target(
            session,
            publisher,
            "unit",
            unit_id,
            period,
            indicator,
            TargetSet(target=body.target),
            actor=actor,
            source_ip=source_ip,
        )
    ]
    for child, weight in sorted(body.children.items()):
        share = weight / total_weight
        out.append(
            await set_target(
                session,
                publisher,
                children_kinds[child],
                child,
                period,
                indicator,
                TargetSet(target=body.target * share),
                actor=actor,
                source_ip=source_ip,
                parent_id=unit_id,
                weight=share,
            )
        )
    return out


def line_targets(
    lines: Sequence[Mapping[str, Any]], own: Mapping[str, KpiTarget]
) -> dict[str, float]:
    return {
        line["indicator"]: (
            own[line["indicator"]].target if line["indicator"] in own else float(line["target"])
        )
        for line in lines
    }
