"""KPI plans, their assignments and targets: HR administrators write, managers and
company-wide roles read; a person reads their own board (boards)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from zhanli_kpi.boards.service import members_of, people, unit_path
from zhanli_kpi.facts import service as facts
from zhanli_kpi.plans import repository, service
from zhanli_kpi.plans.schemas import (
    AssignmentCreate,
    AssignmentRead,
    PlanRead,
    PlanWrite,
    TargetRead,
    TargetSet,
)
from zhanli_kpi.settings import kpi_settings
from zhanli_shared.audit import client_ip
from zhanli_shared.auth import COMPANY_WIDE, Principal, Role, require_roles
from zhanli_shared.errors import Forbidden, NotFound
from zhanli_shared.runtime import PublisherDep, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/kpi", tags=["kpi plans"])
KpiAdmin = Annotated[Principal, Depends(require_roles(Role.HR_ADMIN))]
TargetAdmin = Annotated[Principal, Depends(require_roles(Role.HR_ADMIN, Role.SALES_MANAGER))]
PlanReader = Annotated[
    Principal,
    Depends(
        require_roles(Role.HR_ADMIN, Role.HR_BP, Role.FINANCE, Role.SALES_MANAGER, Role.EXECUTIVE)
    ),
]
PlanId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
PeriodP = Annotated[str, Path(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
CodeP = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
IdP = Annotated[str, Path(min_length=1, max_length=64)]


@router.get("/plans", response_model=list[PlanRead])
async def list_plans(principal: PlanReader, session: SessionDep) -> list[PlanRead]:
    return [PlanRead.model_validate(p) for p in await repository.list_plans(session)]


@router.get("/plans/{plan_id}", response_model=PlanRead)
async def read_plan(plan_id: PlanId, principal: PlanReader, session: SessionDep) -> PlanRead:
    plan = await repository.get_plan(session, plan_id)
    if plan is None:
        raise NotFound(f"Unknown plan {plan_id!r}.")
    return PlanRead.model_validate(plan)


@router.put("/plans/{plan_id}", response_model=PlanRead)
async def put_plan(
    plan_id: PlanId,
    body: PlanWrite,
    request: Request,
    response: Response,
    principal: KpiAdmin,
    session: SessionDep,
    publisher: PublisherDep,
) -> PlanRead:
    """Create or change a plan: weights total 100 %, every indicator known, every curve
    able to score its target, or nothing is saved (422 naming the line and field)."""
    plan, created = await service.put_plan(
        session, publisher, plan_id, body, actor=principal, source_ip=client_ip(request)
    )
    if created:
        response.status_code = 201
    return PlanRead.model_validate(plan)


@router.post("/plan-assignments", status_code=201, response_model=AssignmentRead)
async def assign_plan(
    body: AssignmentCreate,
    request: Request,
    principal: KpiAdmin,
    session: SessionDep,
    publisher: PublisherDep,
) -> AssignmentRead:
    """A plan for a person, a unit (and everything below) or a job role, from a month
    (to a month, or open-ended); the most specific covering a period wins."""
    row = await service.assign(
        session, publisher, body, actor=principal, source_ip=client_ip(request)
    )
    return AssignmentRead.model_validate(row)


@router.get("/plan-assignments", response_model=list[AssignmentRead])
async def list_assignments(
    principal: PlanReader,
    session: SessionDep,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
) -> list[AssignmentRead]:
    rows = await repository.list_assignments(session, target_id=target_id)
    return [AssignmentRead.model_validate(r) for r in rows]


@router.put("/people/{employee_id}/targets/{period}/{indicator}", response_model=TargetRead)
async def set_person_target(
    employee_id: IdP,
    period: PeriodP,
    indicator: CodeP,
    body: TargetSet,
    request: Request,
    principal: TargetAdmin,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> TargetRead:
    """A person's own target for one indicator in one period (over the plan's)."""
    person = await people.get(session, employee_id)
    if person is None:
        raise NotFound(f"Unknown person {employee_id!r}.")
    if not (principal.has_any(COMPANY_WIDE) or principal.manages(person.org_path)):
        raise Forbidden("Outside your data scope.")
    if principal.subject == employee_id and not principal.has_any({Role.HR_ADMIN}):
        raise Forbidden("Nobody sets their own target.")
    row = await service.set_target(
        session,
        publisher,
        "person",
        employee_id,
        period,
        indicator,
        body,
        actor=principal,
        source_ip=client_ip(request),
    )
    await facts.rescore(session, publisher, kpi_settings(runtime), {(employee_id, period)})
    return TargetRead.model_validate(row)


@router.put("/units/{unit_id}/targets/{period}/{indicator}", response_model=TargetRead)
async def set_unit_target(
    unit_id: IdP,
    period: PeriodP,
    indicator: CodeP,
    body: TargetSet,
    request: Request,
    principal: TargetAdmin,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> TargetRead:
    """A team target (e.g. 500 shipments a month); at ``bonus_threshold`` of it (default
    120 %) each member gets ``bonus_points`` (default 10) on their weighted score."""
    members = await members_of(session, unit_id)
    if not members:
        raise NotFound(f"No one is in unit {unit_id!r}.")
    if not (principal.has_any(COMPANY_WIDE) or principal.manages(unit_path(members, unit_id))):
        raise Forbidden("Outside your data scope.")
    row = await service.set_target(
        session,
        publisher,
        "unit",
        unit_id,
        period,
        indicator,
        body,
        actor=principal,
        source_ip=client_ip(request),
    )
    await facts.rebuild_unit(session, unit_id, [m.employee_id for m in members], period, indicator)
    await facts.rescore(
        session, publisher, kpi_settings(runtime), {(m.employee_id, period) for m in members}
    )
    return TargetRead.model_validate(row)
