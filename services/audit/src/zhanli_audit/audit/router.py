"""Audit API for auditors: search, export (streamed), verify the chain.

There is no ``auditor`` role: hr_admin, it_ops and executive read the log. Nobody can
change it through the API (there is no update or delete route).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from zhanli_audit.audit import repository, service
from zhanli_audit.audit.repository import Filters
from zhanli_audit.audit.schemas import AuditEntryRead, AuditPage, VerifyResult
from zhanli_shared.auth import Role, require_roles
from zhanli_shared.errors import Unprocessable
from zhanli_shared.runtime import RuntimeDep, SessionDep

AUDIT_READERS = (Role.HR_ADMIN, Role.IT_OPS, Role.EXECUTIVE)

router = APIRouter(
    prefix="/api/v1/audit",
    tags=["audit"],
    dependencies=[Depends(require_roles(*AUDIT_READERS))],
)


def filters(
    actor_id: Annotated[str | None, Query(max_length=200)] = None,
    entity_type: Annotated[str | None, Query(max_length=64)] = None,
    entity_id: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    since: Annotated[dt.datetime | None, Query(description="occurred_at >= since")] = None,
    until: Annotated[dt.datetime | None, Query(description="occurred_at < until")] = None,
) -> Filters:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise Unprocessable("Give a time zone (e.g. 2026-11-23T00:00:00+08:00).", field=name)
    return Filters(actor_id, entity_type, entity_id, action, since, until)


FiltersDep = Annotated[Filters, Depends(filters)]


@router.get("/entries", response_model=AuditPage)
async def search_entries(
    session: SessionDep,
    where: FiltersDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[
        int | None, Query(ge=0, le=2**62, description="next_cursor of the previous page")
    ] = None,
    order: Literal["asc", "desc"] = "asc",
) -> AuditPage:
    rows = await repository.search(
        session, where, after_sequence=cursor, limit=limit, descending=order == "desc"
    )
    items = [AuditEntryRead.model_validate(r) for r in rows]
    return AuditPage(items=items, next_cursor=items[-1].sequence if len(items) == limit else None)


@router.get(
    "/entries/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
async def export_entries(
    runtime: RuntimeDep, where: FiltersDep, format: Literal["csv", "jsonl"] = "csv"
) -> StreamingResponse:
    media_type = service.FORMATS[format][0]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        service.export(runtime.sessions, where, format),
        media_type=media_type,
        headers={"content-disposition": f'attachment; filename="audit-{stamp}.{format}"'},
    )


@router.get("/verify", response_model=VerifyResult)
async def verify_chain(runtime: RuntimeDep) -> VerifyResult:
    return VerifyResult(**await service.verify(runtime.sessions))
