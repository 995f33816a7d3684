"""Directory API: HR and the HRIS integration write; people read within their scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from zhanli_gateway.directory import repository, service
from zhanli_gateway.directory.models import Employee
from zhanli_gateway.directory.schemas import (
    EmployeeRead,
    EmployeeWrite,
    OrgUnitRead,
    OrgUnitWrite,
    Page,
)
from zhanli_shared.audit import client_ip
from zhanli_shared.auth import COMPANY_WIDE, CurrentPrincipal, Principal, Role, require_roles
from zhanli_shared.crypto import FieldCipher
from zhanli_shared.errors import Forbidden, NotFound, Unprocessable
from zhanli_shared.runtime import CipherDep, PublisherDep, SessionDep

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


@router.get("/org-units", response_model=list[OrgUnitRead])
async def list_org_units(principal: CurrentPrincipal, session: SessionDep) -> list[OrgUnitRead]:
    del principal  # the org tree itself is visible to every signed-in person
    return [OrgUnitRead.model_validate(u) for u in await repository.list_units(session)]


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
        raise Forbidden("Outside your data scope.")
    return _read(emp, principal, cipher)


def _read(emp: Employee, principal: Principal, cipher: FieldCipher) -> EmployeeRead:
    """Personal data in full for HR and the person; masked for everyone else."""
    full = emp.employee_id == principal.subject or principal.has_any(PERSONAL_DATA_READERS)
    return EmployeeRead.model_validate(emp).model_copy(
        update=service.personal_data(emp, cipher, full=full)
    )
