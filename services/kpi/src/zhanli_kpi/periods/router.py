"""Period close (HR) and the daily growth run (a scheduler, IT operations or HR)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from zhanli_kpi.periods import service
from zhanli_kpi.settings import kpi_settings
from zhanli_shared.audit import client_ip
from zhanli_shared.auth import Principal, Role, require_roles
from zhanli_shared.runtime import PublisherDep, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/kpi", tags=["kpi periods"])
KpiAdmin = Annotated[Principal, Depends(require_roles(Role.HR_ADMIN))]
Scheduler = Annotated[
    Principal, Depends(require_roles(Role.HR_ADMIN, Role.IT_OPS, Role.INTEGRATION))
]
PeriodP = Annotated[str, Path(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]


@router.post("/periods/{period}/close")
async def close_period(
    period: PeriodP,
    request: Request,
    principal: KpiAdmin,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> dict[str, int | str]:
    """Score everyone once more, snapshot and lock the period; facts arriving later for it
    count in the next open period as adjustments (never a silent rewrite). Each person's
    weakest indicator becomes a training recommendation for the learning service."""
    return await service.close(
        session,
        publisher,
        kpi_settings(runtime),
        period,
        actor=principal,
        source_ip=client_ip(request),
    )


@router.post("/growth/{day}")
async def measure_growth(
    day: Annotated[dt.date, Path(description="Business day, company time zone")],
    principal: Scheduler,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> dict[str, int]:
    """Publish the day's performance growth of everyone scored in its period
    (``zhanli.kpi.performance_growth_measured.v1``, read by commission's flexible probation
    targets). Run once a day after the day ends (cron or the platform scheduler)."""
    published = await service.measure_growth(session, publisher, kpi_settings(runtime), day)
    return {"published": published}
