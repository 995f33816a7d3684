"""Disputes of statement lines: raise, list, read, resolve (thin routes)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status

from zhanli_commission.disputes import service
from zhanli_commission.settings import commission_settings
from zhanli_commission.statements.schemas import (
    PERIOD_PATTERN,
    DisputeCreate,
    DisputeList,
    DisputeRead,
    DisputeResolve,
)
from zhanli_shared.audit import client_ip
from zhanli_shared.auth import CurrentPrincipal
from zhanli_shared.runtime import PublisherDep, ReadSessionDep, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/commission", tags=["statements and payouts"])

PeriodPath = Annotated[str, Path(pattern=PERIOD_PATTERN, description="Business month YYYY-MM")]


@router.post(
    "/lines/{commission_id}/disputes",
    status_code=status.HTTP_201_CREATED,
    response_model=DisputeRead,
)
async def raise_dispute(
    commission_id: str,
    body: DisputeCreate,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
) -> DisputeRead:
    """The person paid by a line questions it."""
    dispute = await service.raise_dispute(
        session, publisher, commission_id, body, actor=principal, source_ip=client_ip(request)
    )
    return DisputeRead.model_validate(dispute)


@router.get("/people/{employee_id}/disputes", response_model=DisputeList)
async def list_disputes(
    employee_id: str,
    principal: CurrentPrincipal,
    session: ReadSessionDep,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
    status: Annotated[str | None, Query(pattern=r"^(open|accepted|rejected)$")] = None,
) -> DisputeList:
    rows = await service.list_disputes(session, principal, employee_id, period, status)
    return DisputeList(items=[DisputeRead.model_validate(d) for d in rows])


@router.get("/disputes/{dispute_id}", response_model=DisputeRead)
async def read_dispute(
    dispute_id: str, principal: CurrentPrincipal, session: ReadSessionDep
) -> DisputeRead:
    return DisputeRead.model_validate(await service.visible_dispute(session, principal, dispute_id))


@router.post("/disputes/{dispute_id}/resolve", response_model=DisputeRead)
async def resolve_dispute(
    dispute_id: str,
    body: DisputeResolve,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> DisputeRead:
    """The manager or finance answers: accepted (an adjustment line in the person's first
    open period) or rejected."""
    dispute = await service.resolve_dispute(
        session,
        publisher,
        commission_settings(runtime),
        dispute_id,
        body,
        actor=principal,
        source_ip=client_ip(request),
    )
    return DisputeRead.model_validate(dispute)
