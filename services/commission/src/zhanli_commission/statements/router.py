"""Statements: the live position of a period, its close, the closed statement, approvals
and corrections (thin routes). Payout batches: ``payouts.router``; disputes: ``disputes.router``."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.commissions import repository as ledger_rows
from zhanli_commission.commissions import rewards
from zhanli_commission.commissions.schemas import (
    CommissionLineRead,
    LivePosition,
    ProbationRead,
)
from zhanli_commission.plans import service as plans
from zhanli_commission.sales.service import people
from zhanli_commission.settings import commission_settings
from zhanli_commission.statements import service
from zhanli_commission.statements.schemas import (
    PERIOD_PATTERN,
    AdjustmentRequest,
    ApproveRequest,
    CloseRequest,
    CloseResult,
    RejectRequest,
    StatementLineRead,
    StatementRead,
)
from zhanli_shared.audit import client_ip
from zhanli_shared.auth import CurrentPrincipal, Principal, Role, require_roles
from zhanli_shared.db import utcnow
from zhanli_shared.directory import Person
from zhanli_shared.errors import NotFound, OutOfScope
from zhanli_shared.money import business_month
from zhanli_shared.runtime import PublisherDep, ReadSessionDep, Runtime, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/commission", tags=["statements and payouts"])

PeriodPath = Annotated[str, Path(pattern=PERIOD_PATTERN, description="Business month YYYY-MM")]
Closer = Annotated[Principal, Depends(require_roles(Role.FINANCE, Role.HR_ADMIN))]
Finance = Annotated[Principal, Depends(require_roles(Role.FINANCE))]
PayoutReader = Annotated[
    Principal,
    Depends(require_roles(Role.FINANCE, Role.HR_ADMIN, Role.HR_BP, Role.INTEGRATION)),
]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
COLUMNS = (
    "batch_id",
    "period",
    "employee_id",
    "name",
    "org_unit_id",
    "statement_total",
    "draw_total",
    "carried_in",
    "amount",
    "carried_out",
    "currency",
)


@router.get("/people/{employee_id}/statements/{period}", response_model=StatementRead)
async def read_statement(
    employee_id: str,
    period: PeriodPath,
    principal: CurrentPrincipal,
    session: ReadSessionDep,
    runtime: RuntimeDep,
) -> StatementRead:
    """A person's statement of a period: every line explained, status and approvals, draw
    balance and carried balance. Visible to the person, their managers, finance and HR."""
    settings = commission_settings(runtime)
    return await service.read_statement(session, settings, principal, employee_id, period)


@router.post("/periods/{period}/close", response_model=CloseResult)
async def close_period(
    period: PeriodPath,
    request: Request,
    principal: Closer,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
    body: CloseRequest | None = None,
) -> CloseResult:
    """Close the period for everyone (or one unit and below): statements are frozen, draws
    applied, and facts arriving later are booked into the next open period."""
    unit = body.org_unit_id if body else None
    outcome = await service.close_period(
        session,
        publisher,
        commission_settings(runtime),
        period,
        org_unit_id=unit,
        actor=principal,
        source_ip=client_ip(request),
    )
    return CloseResult(
        period=period,
        org_unit_id=unit,
        closed=outcome.closed,
        created_without_activity=outcome.created,
        already_closed=outcome.already_closed,
        draw_lines=outcome.draw_lines,
    )


@router.post("/people/{employee_id}/statements/{period}/approve", response_model=StatementRead)
async def approve_statement(
    employee_id: str,
    period: PeriodPath,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
    body: ApproveRequest | None = None,
) -> StatementRead:
    """closed -> manager_approved (the person's sales manager) -> payable (finance)."""
    await service.approve(
        session,
        publisher,
        employee_id,
        period,
        body or ApproveRequest(),
        actor=principal,
        source_ip=client_ip(request),
    )
    return await service.read_statement(
        session, commission_settings(runtime), principal, employee_id, period
    )


@router.post("/people/{employee_id}/statements/{period}/reject", response_model=StatementRead)
async def reject_statement(
    employee_id: str,
    period: PeriodPath,
    body: RejectRequest,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> StatementRead:
    """Refuse with a reason: back to ``closed``, to be corrected and approved again."""
    await service.reject(
        session,
        publisher,
        employee_id,
        period,
        body.reason,
        actor=principal,
        source_ip=client_ip(request),
    )
    return await service.read_statement(
        session, commission_settings(runtime), principal, employee_id, period
    )


@router.post(
    "/people/{employee_id}/statements/{period}/adjustments",
    status_code=status.HTTP_201_CREATED,
    response_model=StatementLineRead,
)
async def adjust_statement(
    employee_id: str,
    period: PeriodPath,
    body: AdjustmentRequest,
    request: Request,
    principal: Finance,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> StatementLineRead:
    """Finance corrects a closed statement not yet approved (an ``adjustment`` line)."""
    line = await service.adjust_closed(
        session,
        publisher,
        commission_settings(runtime),
        employee_id,
        period,
        body,
        actor=principal,
        source_ip=client_ip(request),
    )
    return StatementLineRead.model_validate(line)


# --- the live position of a period (the statement before it is closed) -----------------

LivePeriod = Annotated[
    str | None,
    Query(
        pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="Business month YYYY-MM; default: current"
    ),
]


@router.get("/people/{employee_id}/statement", response_model=LivePosition)
async def read_live_position(
    employee_id: str,
    principal: CurrentPrincipal,
    session: ReadSessionDep,
    runtime: RuntimeDep,
    period: LivePeriod = None,
) -> LivePosition:
    person = await people.get(session, employee_id)
    if person is None:
        raise NotFound(f"Unknown person {employee_id!r}.")
    if not principal.can_view_pay(employee_id, person.org_path):
        raise OutOfScope(f"Unknown person {employee_id!r}.")  # alike: no id enumeration
    period = period or business_month(utcnow(), commission_settings(runtime).timezone)
    # Lines first, then the position: each read sees at least what the one before saw (READ
    # COMMITTED), and the total shown is the sum of the lines shown, never a newer or older one.
    lines = await ledger_rows.lines_of_period(session, employee_id, period)
    total = await ledger_rows.period_total(session, employee_id, period)
    return LivePosition(
        salesperson_id=employee_id,
        period=period,
        currency=total.currency if total else commission_settings(runtime).currency,
        total=sum((line.amount for line in lines), Decimal("0.00")),
        basis_total=total.basis_total if total else Decimal("0.00"),
        lines=[CommissionLineRead.model_validate(line) for line in lines],
        status=total.status if total else "open",
        plan_id=total.plan_id if total else None,
        plan_version=total.plan_version if total else None,
        quota=total.quota if total else None,
        attainment=total.attainment if total else None,
        tier=total.tier if total else None,
        kept=total.kept if total else Decimal("0.00"),
        probation=await _probation(session, runtime, person, period),
        **await service.statement_balances(session, employee_id, period),
    )


async def _probation(
    session: AsyncSession, runtime: Runtime, person: Person, period: str
) -> ProbationRead | None:
    plan = await plans.resolve_plan(session, person, period, commission_settings(runtime))
    if plan.rules.probation is None:
        return None
    status = await rewards.probation_status(session, person, period, plan.rules.probation)
    return ProbationRead(**dataclasses.asdict(status)) if status else None
