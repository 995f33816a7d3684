"""Facts in from the systems of record (CRM, ERP, finance, orders, tickets): one, or up to
1,000 per request with a result per item; idempotent by (source, source_id)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.requests import ClientDisconnect

from zhanli_kpi.boards.service import people
from zhanli_kpi.facts import repository, service
from zhanli_kpi.facts.importing import FactImporter, records
from zhanli_kpi.facts.schemas import (
    BulkFacts,
    BulkResult,
    FactIn,
    FactRead,
    FactResult,
    ImportRead,
)
from zhanli_kpi.settings import kpi_settings
from zhanli_shared import tabular
from zhanli_shared.auth import CurrentPrincipal, Principal, Role, require_roles
from zhanli_shared.db import utcnow
from zhanli_shared.errors import (
    Conflict,
    NotFound,
    OutOfScope,
    Unprocessable,
    UnsupportedMediaType,
)
from zhanli_shared.money import business_month
from zhanli_shared.runtime import PublisherDep, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/kpi", tags=["kpi facts"])
FactWriter = Annotated[
    Principal, Depends(require_roles(Role.INTEGRATION, Role.HR_ADMIN, Role.FINANCE))
]
PeriodQ = Annotated[str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]


@router.post(
    "/facts",
    status_code=201,
    response_model=FactResult,
    responses={200: {"description": "The same fact again (duplicate): nothing changed"}},
)
async def post_fact(
    body: FactIn,
    response: Response,
    principal: FactWriter,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> FactResult:
    """One fact; the person's board is re-scored before the answer."""
    outcome = await service.ingest(session, publisher, kpi_settings(runtime), [body])
    result = outcome.results[0]
    if result.status == "rejected":
        first = result.errors[0]
        every = [e.model_dump() for e in result.errors]
        if first.field == "source_id":
            raise Conflict(first.message, field="source_id", item_errors=every)
        raise Unprocessable(first.message, field=first.field, item_errors=every)
    if result.status == "duplicate":
        response.status_code = 200
    return result


@router.post("/facts/bulk", response_model=BulkResult)
async def post_facts(
    body: BulkFacts,
    principal: FactWriter,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> BulkResult:
    """Up to 1,000 facts: valid ones applied, bad ones reported with their field (a result
    per item, in order); sending the same request again changes nothing."""
    outcome = await service.ingest(session, publisher, kpi_settings(runtime), body.items)
    return BulkResult(
        created=outcome.count("created"),
        duplicates=outcome.count("duplicate"),
        rejected=outcome.count("rejected"),
        results=outcome.results,
    )


@router.get("/people/{employee_id}/facts", response_model=list[FactRead])
async def list_facts(
    employee_id: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
    period: PeriodQ = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[FactRead]:
    """The facts counted in a person's period, newest first (what the board is made of)."""
    person = await people.get(session, employee_id)
    if person is None:
        raise NotFound(f"Unknown person {employee_id!r}.")
    if not principal.can_view_person(employee_id, person.org_path):
        raise OutOfScope(f"Unknown person {employee_id!r}.")  # alike: no id enumeration
    period = period or business_month(utcnow(), runtime.settings.timezone)
    rows = await repository.facts_of(session, employee_id, period, limit)
    return [FactRead.model_validate(r) for r in rows]


FILE_BODY = {
    "required": True,
    "content": {
        "text/csv": {"schema": {"type": "string", "format": "binary"}},
        tabular.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
    },
}


@router.post(
    "/facts/imports",
    response_model=ImportRead,
    openapi_extra={"requestBody": FILE_BODY},
    responses={415: {"description": "Neither CSV nor XLSX"}},
)
async def import_facts(
    request: Request,
    principal: FactWriter,
    runtime: RuntimeDep,
    dry_run: Annotated[bool, Query(description="Check every row; write nothing")] = False,
) -> ImportRead:
    """Facts from a CSV (UTF-8 or GBK) or XLSX file, the raw body: valid rows applied, bad
    rows reported (row, column, reason); the same file again changes nothing. Columns:
    工号/employee_id, 指标/indicator, 数值/value, 日期/occurred_at; optional 单据号/source_id,
    来源/source, 备注/note."""
    try:
        media_type, charset = tabular.content_type(request.headers.get("content-type", ""))
    except tabular.FileError as exc:
        raise UnsupportedMediaType(exc.message, field=exc.field) from exc
    importer = FactImporter(
        runtime.sessions,
        runtime.publisher,
        kpi_settings(runtime),
        actor=principal,
        media_type=media_type,
        dry_run=dry_run,
    )

    async def chunks() -> AsyncIterator[bytes]:
        try:
            async for chunk in request.stream():
                if chunk:
                    yield chunk
        except ClientDisconnect as exc:
            raise tabular.FileError("The upload was interrupted.") from exc

    job = await importer.run(records(chunks(), media_type, charset))
    runtime.wake_relay()
    if importer.file_error is not None:
        raise Unprocessable(
            importer.file_error.message,
            field=importer.file_error.field,
            import_id=job.import_id,
            rows_read=job.rows_read,
        )
    return ImportRead.model_validate(job)


@router.get("/facts/imports/{import_id}", response_model=ImportRead)
async def read_import(
    import_id: Annotated[str, Path(min_length=1, max_length=64)],
    principal: FactWriter,
    session: SessionDep,
) -> ImportRead:
    job = await repository.get_import(session, import_id)
    if job is None:
        raise NotFound(f"Unknown import {import_id!r}.")
    return ImportRead.model_validate(job)
