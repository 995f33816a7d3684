"""Commission statements: the person, their management chain, finance and HR."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.commissions import extras, recalc, repository
from zhanli_commission.commissions.schemas import (
    CommissionLineRead,
    CommissionStatement,
    ProbationRead,
    RecalculationRead,
)
from zhanli_commission.commissions.whatif import WhatIfRequest, WhatIfResult, what_if
from zhanli_commission.plans import service as plans
from zhanli_commission.sales.service import people
from zhanli_commission.settings import commission_settings
from zhanli_commission.statements.service import statement_balances
from zhanli_shared import audit
from zhanli_shared.auth import CurrentPrincipal, Principal, Role, require_roles
from zhanli_shared.db import utcnow
from zhanli_shared.directory import Person
from zhanli_shared.errors import Forbidden, NotFound
from zhanli_shared.money import business_month
from zhanli_shared.runtime import Runtime, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/commission", tags=["commissions"])

Period = Annotated[
    str | None,
    Query(
        pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="Business month YYYY-MM; default: current"
    ),
]


@router.get("/people/{employee_id}/statement", response_model=CommissionStatement)
async def read_statement(
    employee_id: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
    period: Period = None,
) -> CommissionStatement:
    person = await people.get(session, employee_id)
    if person is None:
        raise NotFound(f"Unknown person {employee_id!r}.")
    if not principal.can_view_pay(employee_id, person.org_path):
        raise Forbidden(
            "Commission figures are visible to the person, their managers, finance and HR only."
        )
    period = period or business_month(utcnow(), commission_settings(runtime).timezone)
    # Lines first, then the position: each read sees at least what the one before saw (READ
    # COMMITTED), and the total shown is the sum of the lines shown, never a newer or older one.
    lines = await repository.lines_of_period(session, employee_id, period)
    total = await repository.period_total(session, employee_id, period)
    return CommissionStatement(
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
        **await statement_balances(session, employee_id, period),
    )


async def _probation(
    session: AsyncSession, runtime: Runtime, person: Person, period: str
) -> ProbationRead | None:
    plan = await plans.resolve_plan(session, person, period, commission_settings(runtime))
    if plan.rules.probation is None:
        return None
    status = await extras.probation_status(session, person, period, plan.rules.probation)
    return ProbationRead(**dataclasses.asdict(status)) if status else None


@router.post("/people/{employee_id}/what-if", response_model=WhatIfResult)
async def estimate_commission(
    employee_id: str,
    body: WhatIfRequest,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> WhatIfResult:
    """What a payment of ``amount`` would earn now: the real rule, nothing written."""
    settings = commission_settings(runtime)
    return await what_if(session, settings, principal, employee_id, body)


Recalculators = Annotated[Principal, Depends(require_roles(Role.FINANCE, Role.HR_ADMIN))]


@router.post("/periods/{period}/recalculate", response_model=RecalculationRead)
async def recalculate_period(
    request: Request,
    principal: Recalculators,
    session: SessionDep,
    runtime: RuntimeDep,
    period: Annotated[str, Path(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")],
) -> RecalculationRead:
    """Price everyone's period again from their credits and append the differences (after
    a plan correction, a directory fix...). Batches commit as they go; a second call right
    after appends nothing. Closed statements are left alone."""
    report = await recalc.recalculate_period(
        runtime.sessions,
        runtime.publisher,
        commission_settings(runtime),
        period,
        reason=f"period {period} recalculated by {principal.subject}",
    )
    runtime.wake_relay()
    read = RecalculationRead(
        period=period,
        people=report.people,
        changed_people=report.changed_people,
        lines_appended=report.lines_appended,
        delta=report.delta,
        events=report.events,
        skipped_closed=report.skipped_closed,
        skipped_unknown=report.skipped_unknown,
        failed=report.failed,
        seconds=round(report.seconds.get("total", 0.0), 3),
    )
    await audit.record(
        session,
        runtime.publisher,
        actor=principal,
        action="commission.period.recalculated",
        entity_type="commission_period",
        entity_id=period,
        before=None,
        after=read.model_dump(mode="json", exclude={"seconds"}),
        source_ip=audit.client_ip(request),
    )
    return read
