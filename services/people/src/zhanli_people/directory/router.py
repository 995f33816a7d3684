"""Directory API: HR and the HRIS integration write; people read within their scope."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.requests import ClientDisconnect

from zhanli_people.directory import importing, repository, service, tabular
from zhanli_people.directory.models import Employee
from zhanli_people.directory.schemas import (
    EmployeeRead,
    EmployeeWrite,
    ImportJobRead,
    OrgUnitMove,
    OrgUnitRead,
    OrgUnitWrite,
    Page,
    SeparationWrite,
)
from zhanli_people.settings import people_settings
from zhanli_shared.audit import client_ip
from zhanli_shared.auth import COMPANY_WIDE, CurrentPrincipal, Principal, Role, require_roles
from zhanli_shared.crypto import FieldCipher
from zhanli_shared.errors import NotFound, OutOfScope, Unprocessable, UnsupportedMediaType
from zhanli_shared.runtime import CipherDep, PublisherDep, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/directory", tags=["directory"])
WRITERS = (Role.HR_ADMIN, Role.HR_BP, Role.INTEGRATION)
PERSONAL_DATA_READERS = frozenset({Role.HR_ADMIN, Role.HR_BP})


@router.put(
    "/org-units/{org_unit_id}",
    response_model=OrgUnitRead,
    dependencies=[Depends(require_roles(*WRITERS))],
)
async def put_org_unit(
    org_unit_id: str,
    body: OrgUnitWrite,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
) -> OrgUnitRead:
    if body.org_unit_id != org_unit_id:
        raise Unprocessable("org_unit_id in the body must match the URL.", field="org_unit_id")
    unit = await service.upsert_unit(
        session, publisher, body, actor=principal, source_ip=client_ip(request)
    )
    return OrgUnitRead.model_validate(unit)


@router.patch(
    "/org-units/{org_unit_id}",
    response_model=OrgUnitRead,
    dependencies=[Depends(require_roles(*WRITERS))],
)
async def move_org_unit(
    org_unit_id: str,
    body: OrgUnitMove,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
) -> OrgUnitRead:
    """Move the unit, with everything below it, under ``parent_id`` (``null``: to the top).
    A unit cannot move below one of its own descendants (422 naming ``parent_id``). The
    paths below are rewritten and every unit and person below publishes its change."""
    unit = await service.move_unit(
        session,
        publisher,
        org_unit_id,
        body.parent_id,
        actor=principal,
        source_ip=client_ip(request),
    )
    return OrgUnitRead.model_validate(unit)


@router.get("/org-units", response_model=list[OrgUnitRead])
async def list_org_units(principal: CurrentPrincipal, session: SessionDep) -> list[OrgUnitRead]:
    del principal  # the org tree itself is visible to every signed-in person
    return [OrgUnitRead.model_validate(u) for u in await repository.list_units(session)]


@router.get("/org-units/{org_unit_id}", response_model=OrgUnitRead)
async def read_org_unit(
    org_unit_id: str, principal: CurrentPrincipal, session: SessionDep
) -> OrgUnitRead:
    """One unit of the org tree (visible to every signed-in person, like the tree)."""
    del principal
    unit = await repository.get_unit(session, org_unit_id)
    if unit is None:
        raise NotFound(f"Unknown org unit {org_unit_id!r}.")
    return OrgUnitRead.model_validate(unit)


@router.put(
    "/employees/{employee_id}",
    response_model=EmployeeRead,
    dependencies=[Depends(require_roles(*WRITERS))],
)
async def put_employee(
    employee_id: str,
    body: EmployeeWrite,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    cipher: CipherDep,
) -> EmployeeRead:
    if body.employee_id != employee_id:
        raise Unprocessable("employee_id in the body must match the URL.", field="employee_id")
    emp = await service.upsert_employee(
        session, publisher, cipher, body, actor=principal, source_ip=client_ip(request)
    )
    return _read(emp, principal, cipher)


@router.put(
    "/employees/{employee_id}/separation",
    response_model=EmployeeRead,
    dependencies=[Depends(require_roles(*WRITERS))],
)
async def put_separation(
    employee_id: str,
    body: SeparationWrite,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    cipher: CipherDep,
) -> EmployeeRead:
    """Record that the person left: date, reason (resignation, dismissal,
    failed_probation, other) and detail. The status becomes ``left`` and
    ``zhanli.directory.employee_separated.v1`` is published (retention's label, the
    talent service's hiring outcome); the same separation again publishes nothing."""
    emp = await service.record_separation(
        session, publisher, employee_id, body, actor=principal, source_ip=client_ip(request)
    )
    return _read(emp, principal, cipher)


@router.get("/employees", response_model=Page[EmployeeRead])
async def list_employees(
    principal: CurrentPrincipal,
    session: SessionDep,
    cipher: CipherDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> Page[EmployeeRead]:
    scope: list[str] | None = None
    if not principal.has_any(COMPANY_WIDE | {Role.INTEGRATION}):
        scope = await repository.units_below(session, sorted(principal.org_units))
        if not scope:
            me = await repository.get_employee(session, principal.subject)
            items = [_read(me, principal, cipher)] if me else []
            return Page(items=items, total=len(items), limit=limit, offset=offset)
    rows, total = await repository.list_employees(
        session, org_unit_ids=scope, limit=limit, offset=offset
    )
    return Page(
        items=[_read(r, principal, cipher) for r in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/employees/{employee_id}", response_model=EmployeeRead)
async def read_employee(
    employee_id: str, principal: CurrentPrincipal, session: SessionDep, cipher: CipherDep
) -> EmployeeRead:
    emp = await repository.get_employee(session, employee_id)
    if emp is None:
        raise NotFound(f"Unknown person {employee_id!r}.")
    unit = await repository.get_unit(session, emp.org_unit_id)
    if not principal.can_view_person(
        employee_id, unit.path if unit else []
    ) and not principal.has_any({Role.INTEGRATION}):
        raise OutOfScope(f"Unknown person {employee_id!r}.")  # alike: no id enumeration
    return _read(emp, principal, cipher)


def _read(emp: Employee, principal: Principal, cipher: FieldCipher) -> EmployeeRead:
    """Personal data in full for HR and the person; masked for everyone else."""
    full = emp.employee_id == principal.subject or principal.has_any(PERSONAL_DATA_READERS)
    return EmployeeRead.model_validate(emp).model_copy(
        update=service.personal_data(emp, cipher, full=full)
    )


# --- HRIS import --------------------------------------------------------------------------


IMPORT_BODY = {
    "required": True,
    "description": "The HRIS export as the raw body (not multipart): CSV (UTF-8 with or "
    "without BOM, or GBK) or XLSX (first sheet). Header row first; see the README for the "
    "columns.",
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        tabular.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
    },
}


@router.post(
    "/imports",
    response_model=ImportJobRead,
    dependencies=[Depends(require_roles(*WRITERS))],
    openapi_extra={"requestBody": IMPORT_BODY},
    responses={415: {"description": "Neither CSV nor XLSX"}},
)
async def import_directory(
    request: Request,
    principal: CurrentPrincipal,
    runtime: RuntimeDep,
    cipher: CipherDep,
    dry_run: Annotated[bool, Query(description="Report what would change; write nothing")] = False,
) -> ImportJobRead:
    """Upsert org units and people from an HRIS export, streamed (never whole in memory).

    Valid rows are applied and bad rows reported (row, column, message); each row is
    atomic and goes through the same use cases as the single writes (encryption, change
    events, audit). Importing the same file again changes and publishes nothing. The job
    (``GET /imports/{id}``, or the newest in ``GET /imports``) shows the progress while the
    file is read; this answer is the finished job. A file that cannot be read at all
    (encoding, header) is answered 422, its job marked ``failed``."""
    media_type, charset = _content_type(request.headers.get("content-type", ""))
    importer = importing.DirectoryImporter(
        runtime.sessions,
        runtime.publisher,
        cipher,
        actor=principal,
        source_ip=client_ip(request),
        dry_run=dry_run,
        media_type=media_type,
        after_commit=runtime.wake_relay,
    )

    async def chunks() -> AsyncIterator[bytes]:
        try:
            async for chunk in request.stream():
                if chunk:
                    yield chunk
        except ClientDisconnect as exc:
            raise tabular.FileError("The upload was interrupted.") from exc

    job = await importer.run(importing.stream_records(chunks(), media_type, charset))
    if importer.file_error is not None:
        error = importer.file_error
        raise Unprocessable(
            error.message, field=error.field, import_id=job.id, rows_read=job.rows_read
        )
    return ImportJobRead.model_validate(job)


@router.get(
    "/imports",
    response_model=list[ImportJobRead],
    dependencies=[Depends(require_roles(*WRITERS))],
)
async def list_imports(
    session: SessionDep, runtime: RuntimeDep, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> list[ImportJobRead]:
    """The newest import jobs first (running ones included; one that stopped making
    progress long ago is shown as the failure it is)."""
    await repository.expire_stale_imports(
        session,
        stale_after_s=people_settings(runtime).import_stale_after_s,
    )
    return [
        ImportJobRead.model_validate(j) for j in await repository.list_imports(session, limit=limit)
    ]


@router.get(
    "/imports/{import_id}",
    response_model=ImportJobRead,
    dependencies=[Depends(require_roles(*WRITERS))],
)
async def read_import(import_id: str, session: SessionDep, runtime: RuntimeDep) -> ImportJobRead:
    """One import job: its progress while it runs, then its outcome."""
    await repository.expire_stale_imports(
        session,
        stale_after_s=people_settings(runtime).import_stale_after_s,
    )
    job = await repository.get_import(session, import_id)
    if job is None:
        raise NotFound(f"Unknown import {import_id!r}.")
    return ImportJobRead.model_validate(job)


def _content_type(header: str) -> tuple[str, str | None]:
    media_type, _, params = header.partition(";")
    media_type = media_type.strip().lower()
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
    if media_type not in tabular.CSV_MEDIA_TYPES and media_type != tabular.XLSX_MEDIA_TYPE:
        raise UnsupportedMediaType(
            f"Send the file as text/csv or {tabular.XLSX_MEDIA_TYPE} (the raw body).",
            field="content-type",
        )
    return media_type, charset
