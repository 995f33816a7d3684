"""Commission statements: the person, their management chain, finance and HR."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from zhanli_commission.commissions import corrections, recalc
from zhanli_commission.commissions.schemas import (
    RecalculationRead,
)
from zhanli_commission.commissions.whatif import WhatIfRequest, WhatIfResult, what_if
from zhanli_commission.plans.schemas import CorrectionRequest, CorrectionResult
from zhanli_commission.settings import commission_settings
from zhanli_shared import audit
from zhanli_shared.audit import client_ip
from zhanli_shared.auth import CurrentPrincipal, Principal, Role, require_roles
from zhanli_shared.runtime import PublisherDep, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/commission", tags=["commissions"])

Period = Annotated[
    str | None,
    Query(
        pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="Business month YYYY-MM; default: current"
    ),
]


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


PlanAdmin = Annotated[Principal, Depends(require_roles(Role.HR_ADMIN, Role.FINANCE))]


@router.post("/plans/{plan_id}/versions/{version}/corrections", response_model=CorrectionResult)
async def correct_version(
    plan_id: str,
    version: int,
    body: CorrectionRequest,
    request: Request,
    principal: PlanAdmin,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> CorrectionResult:
    """Correct a version's rules for its still-open periods: ``apply: false`` shows every
    person's difference; ``apply: true`` applies them as re-pricing lines."""
    return await corrections.correct(
        session,
        publisher,
        commission_settings(runtime),
        plan_id,
        version,
        body,
        actor=principal,
        source_ip=client_ip(request),
    )
