"""Interventions of a person (HR and the management chain): record, list, set the outcome."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from zhanli_retention.interventions import service
from zhanli_retention.interventions.schemas import (
    InterventionCreate,
    InterventionList,
    InterventionRead,
    OutcomeUpdate,
)
from zhanli_retention.settings import retention_settings
from zhanli_shared.audit import client_ip
from zhanli_shared.auth import CurrentPrincipal
from zhanli_shared.runtime import PublisherDep, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/retention", tags=["retention interventions"])


@router.post(
    "/people/{employee_id}/interventions",
    response_model=InterventionRead,
    status_code=status.HTTP_201_CREATED,
)
async def record(
    employee_id: str,
    body: InterventionCreate,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> InterventionRead:
    """Who does what for the person, from when; the risk at the time is kept."""
    row = await service.record(
        session,
        publisher,
        retention_settings(runtime),
        employee_id,
        body,
        actor=principal,
        source_ip=client_ip(request),
    )
    return InterventionRead.model_validate(row)


@router.get("/people/{employee_id}/interventions", response_model=InterventionList)
async def list_for_person(
    employee_id: str, principal: CurrentPrincipal, session: SessionDep
) -> InterventionList:
    rows = await service.of_person(session, principal, employee_id)
    return InterventionList(items=[InterventionRead.model_validate(r) for r in rows])


@router.post("/interventions/{intervention_id}/outcome", response_model=InterventionRead)
async def set_outcome(
    intervention_id: str,
    body: OutcomeUpdate,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
) -> InterventionRead:
    row = await service.set_outcome(
        session, publisher, intervention_id, body, actor=principal, source_ip=client_ip(request)
    )
    return InterventionRead.model_validate(row)
