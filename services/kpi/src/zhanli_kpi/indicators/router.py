"""The indicator library: everyone reads it, HR administrators define it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from zhanli_kpi.indicators import repository, service
from zhanli_kpi.indicators.schemas import IndicatorRead, IndicatorWrite
from zhanli_shared.audit import client_ip
from zhanli_shared.auth import CurrentPrincipal, Principal, Role, require_roles
from zhanli_shared.errors import NotFound
from zhanli_shared.runtime import PublisherDep, SessionDep

router = APIRouter(prefix="/api/v1/kpi", tags=["kpi indicators"])
KpiAdmin = Annotated[Principal, Depends(require_roles(Role.HR_ADMIN))]
CodePath = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


@router.get("/indicators", response_model=list[IndicatorRead])
async def list_indicators(principal: CurrentPrincipal, session: SessionDep) -> list[IndicatorRead]:
    return [
        IndicatorRead.model_validate(i) for i in (await repository.all_indicators(session)).values()
    ]


@router.get("/indicators/{code}", response_model=IndicatorRead)
async def read_indicator(
    code: CodePath, principal: CurrentPrincipal, session: SessionDep
) -> IndicatorRead:
    row = await repository.get(session, code)
    if row is None:
        raise NotFound(f"Unknown indicator {code!r}.")
    return IndicatorRead.model_validate(row)


@router.put("/indicators/{code}", response_model=IndicatorRead)
async def put_indicator(
    code: CodePath,
    body: IndicatorWrite,
    request: Request,
    response: Response,
    principal: KpiAdmin,
    session: SessionDep,
    publisher: PublisherDep,
) -> IndicatorRead:
    """Create or change an indicator (checked against the whole library)."""
    row, created = await service.put_indicator(
        session, publisher, code, body, actor=principal, source_ip=client_ip(request)
    )
    if created:
        response.status_code = 201
    return IndicatorRead.model_validate(row)
