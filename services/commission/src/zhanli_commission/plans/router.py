"""Commission plans: HR and finance define them, sales managers read them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, ConfigDict

from zhanli_commission.plans import service
from zhanli_commission.plans.schemas import (
    AssignmentCreate,
    AssignmentRead,
    Period,
    PlanCreate,
    PlanRead,
    QuotaRead,
    QuotaSet,
    VersionCreate,
    VersionRead,
)
from zhanli_commission.sales.service import people
from zhanli_commission.settings import commission_settings
from zhanli_shared.audit import client_ip
from zhanli_shared.auth import CurrentPrincipal, Principal, Role, require_roles
from zhanli_shared.errors import Forbidden, NotFound, OutOfScope
from zhanli_shared.runtime import PublisherDep, ReadSessionDep, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/commission", tags=["commission plans"])

PlanAdmin = Annotated[Principal, Depends(require_roles(Role.HR_ADMIN, Role.FINANCE))]
PlanReader = Annotated[
    Principal,
    Depends(
        require_roles(Role.HR_ADMIN, Role.HR_BP, Role.FINANCE, Role.SALES_MANAGER, Role.EXECUTIVE)
    ),
]


async def _read(session: SessionDep, plan_id: str) -> PlanRead:
    plan = await service.get_plan(session, plan_id)
    if plan is None:
        raise NotFound(f"Unknown plan {plan_id!r}.")
    versions = await service.versions_of(session, plan_id)
    return PlanRead(
        plan_id=plan.plan_id,
        name=plan.name,
        description=plan.description,
        versions=[VersionRead.model_validate(v) for v in versions],
    )


@router.post("/plans", status_code=status.HTTP_201_CREATED, response_model=PlanRead)
async def create_plan(
    body: PlanCreate,
    request: Request,
    principal: PlanAdmin,
    session: SessionDep,
    publisher: PublisherDep,
) -> PlanRead:
    await service.create_plan(
        session, publisher, body, actor=principal, source_ip=client_ip(request)
    )
    return await _read(session, body.plan_id)


@router.get("/plans/{plan_id}", response_model=PlanRead)
async def read_plan(plan_id: str, principal: PlanReader, session: ReadSessionDep) -> PlanRead:
    return await _read(session, plan_id)


@router.post(
    "/plans/{plan_id}/versions", status_code=status.HTTP_201_CREATED, response_model=VersionRead
)
async def add_version(
    plan_id: str,
    body: VersionCreate,
    request: Request,
    principal: PlanAdmin,
    session: SessionDep,
    publisher: PublisherDep,
) -> VersionRead:
    version = await service.add_version(
        session, publisher, plan_id, body, actor=principal, source_ip=client_ip(request)
    )
    return VersionRead.model_validate(version)


class VersionEnd(BaseModel):
    model_config = ConfigDict(extra="forbid")
    effective_to: Period


@router.post("/plans/{plan_id}/versions/{version}/end", response_model=VersionRead)
async def end_version(
    plan_id: str,
    version: int,
    body: VersionEnd,
    request: Request,
    principal: PlanAdmin,
    session: SessionDep,
    publisher: PublisherDep,
) -> VersionRead:
    row = await service.end_version(
        session,
        publisher,
        plan_id,
        version,
        body.effective_to,
        actor=principal,
        source_ip=client_ip(request),
    )
    return VersionRead.model_validate(row)


@router.post(
    "/plan-assignments", status_code=status.HTTP_201_CREATED, response_model=AssignmentRead
)
async def assign_plan(
    body: AssignmentCreate,
    request: Request,
    principal: PlanAdmin,
    session: SessionDep,
    publisher: PublisherDep,
) -> AssignmentRead:
    exists = (await people.get(session, body.target_id)) is not None
    row = await service.assign(
        session,
        publisher,
        body,
        person_exists=exists,
        actor=principal,
        source_ip=client_ip(request),
    )
    return AssignmentRead.model_validate(row)


@router.get("/plan-assignments", response_model=list[AssignmentRead])
async def list_assignments(
    principal: PlanReader, session: ReadSessionDep, plan_id: str | None = None
) -> list[AssignmentRead]:
    return [AssignmentRead.model_validate(r) for r in await service.assignments(session, plan_id)]


@router.put("/people/{employee_id}/quotas/{period}", response_model=QuotaRead)
async def set_quota(
    employee_id: str,
    period: Period,
    body: QuotaSet,
    request: Request,
    principal: Annotated[
        Principal, Depends(require_roles(Role.HR_ADMIN, Role.FINANCE, Role.SALES_MANAGER))
    ],
    session: SessionDep,
    publisher: PublisherDep,
) -> QuotaRead:
    person = await people.get(session, employee_id)
    if person is None:
        raise NotFound(f"Unknown person {employee_id!r}.")
    if not principal.has_any({Role.HR_ADMIN, Role.FINANCE}) and (
        employee_id == principal.subject or not principal.manages(person.org_path)
    ):
        raise Forbidden("A sales manager sets quotas only for their team, never their own.")
    row = await service.set_quota(
        session,
        publisher,
        employee_id,
        period,
        body.amount,
        actor=principal,
        source_ip=client_ip(request),
    )
    return QuotaRead(salesperson_id=employee_id, period=period, amount=row.amount, source="person")


@router.get("/people/{employee_id}/quotas/{period}", response_model=QuotaRead)
async def read_quota(
    employee_id: str,
    period: Period,
    principal: CurrentPrincipal,
    session: ReadSessionDep,
    runtime: RuntimeDep,
) -> QuotaRead:
    person = await people.get(session, employee_id)
    if person is None:
        raise NotFound(f"Unknown person {employee_id!r}.")
    if not principal.can_view_person(employee_id, person.org_path):
        raise OutOfScope(f"Unknown person {employee_id!r}.")  # alike: no id enumeration
    plan = await service.resolve_plan(session, person, period, commission_settings(runtime))
    amount, source = await service.quota_for(session, person, period, plan.rules)
    if amount is None:
        raise NotFound(f"No quota for {employee_id!r} in {period}: the plan has none.")
    return QuotaRead(salesperson_id=employee_id, period=period, amount=amount, source=source)  # type: ignore[arg-type]
