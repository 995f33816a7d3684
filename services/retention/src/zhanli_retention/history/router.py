"""History imports (HR): train the first model from a past-employee export."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from zhanli_retention.history import service
from zhanli_retention.history.schemas import (
    HistoryImportCreate,
    HistoryImportList,
    HistoryImportRead,
    TimelinesIn,
    TimelinesResult,
)
from zhanli_retention.settings import retention_settings
from zhanli_shared.audit import client_ip
from zhanli_shared.auth import Principal, require_roles
from zhanli_shared.runtime import PublisherDep, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/retention/history", tags=["retention history"])
HrAdmin = Annotated[Principal, Depends(require_roles("hr_admin"))]
HrReader = Annotated[Principal, Depends(require_roles("hr_admin", "hr_bp"))]


@router.post("/imports", response_model=HistoryImportRead, status_code=status.HTTP_201_CREATED)
async def create_import(
    body: HistoryImportCreate,
    request: Request,
    principal: HrAdmin,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> HistoryImportRead:
    """Read, validate and train; the answer reports what was imported and rejected (and
    why), cross-validated ROC-AUC and Brier against logistic regression on the same folds,
    and whether the model was activated. Bad files and mappings: 422 naming the field."""
    row = await service.import_history(
        session,
        publisher,
        retention_settings(runtime),
        body,
        actor=principal,
        source_ip=client_ip(request),
    )
    return HistoryImportRead.model_validate(row)


@router.get("/imports", response_model=HistoryImportList)
async def list_imports(principal: HrReader, session: SessionDep) -> HistoryImportList:
    return HistoryImportList(
        items=[HistoryImportRead.model_validate(r) for r in await service.all_imports(session)]
    )


@router.get("/imports/{import_id}", response_model=HistoryImportRead)
async def read_import(
    import_id: str, principal: HrReader, session: SessionDep
) -> HistoryImportRead:
    return HistoryImportRead.model_validate(await service.get(session, import_id))


@router.post("/timelines", response_model=TimelinesResult)
async def import_timelines(
    body: TimelinesIn,
    request: Request,
    principal: HrAdmin,
    session: SessionDep,
    publisher: PublisherDep,
) -> TimelinesResult:
    """Past people with their hire and separation dates and dated signals (up to 1,000 a
    call): the history the hazard model trains on, before events have accumulated it."""
    out = await service.import_timelines(
        session, publisher, body, actor=principal, source_ip=client_ip(request)
    )
    return TimelinesResult(**out)
