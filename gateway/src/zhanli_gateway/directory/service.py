"""Directory use cases: upsert units and people, publish change events for projections."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_gateway.directory import repository
from zhanli_gateway.directory.models import Employee, OrgUnit
from zhanli_gateway.directory.schemas import EmployeeWrite, OrgUnitWrite
from zhanli_shared.crypto import FieldCipher, mask_id_number, mask_phone
from zhanli_shared.db import utcnow
from zhanli_shared.errors import Unprocessable
from zhanli_shared.events.contracts.directory import EmployeeUpserted, OrgUnitUpserted
from zhanli_shared.events.outbox import Publisher


async def upsert_unit(session: AsyncSession, publisher: Publisher, data: OrgUnitWrite) -> OrgUnit:
    path = [data.org_unit_id]
    if data.parent_id:
        parent = await repository.get_unit(session, data.parent_id)
        if parent is None:
            raise Unprocessable(f"Unknown parent unit {data.parent_id!r}.", field="parent_id")
        if data.org_unit_id in parent.path:
            raise Unprocessable("A unit cannot sit below itself.", field="parent_id")
        path = [*parent.path, data.org_unit_id]
    unit = await repository.get_unit(session, data.org_unit_id)
    if unit is None:
        unit = OrgUnit(org_unit_id=data.org_unit_id)
        session.add(unit)
    elif unit.path != path and unit.parent_id != data.parent_id:
        raise Unprocessable(
            "Moving a unit to another parent is done by an HRIS import.", field="parent_id"
        )
    unit.name, unit.kind, unit.parent_id = data.name, data.kind.value, data.parent_id
    unit.manager_id, unit.path, unit.updated_at = data.manager_id, path, utcnow()
    await session.flush()
    await publisher.publish(
        session,
        OrgUnitUpserted(
            org_unit_id=unit.org_unit_id,
            name=unit.name,
            kind=data.kind,
            parent_id=unit.parent_id,
            manager_id=unit.manager_id,
            path=path,
        ),
    )
    return unit


def _context(employee_id: str, field: str) -> str:
    """Associated data binding a ciphertext to its row and field."""
    return f"gateway:employees:{employee_id}:{field}"


def personal_data(emp: Employee, cipher: FieldCipher, *, full: bool) -> dict[str, str | None]:
    """Decrypt the person's phone and ID number; masked unless ``full``."""
    out: dict[str, str | None] = {"phone": None, "id_number": None}
    if emp.phone_enc:
        phone = cipher.decrypt(emp.phone_enc, context=_context(emp.employee_id, "phone"))
        out["phone"] = phone if full else mask_phone(phone)
    if emp.id_number_enc:
        number = cipher.decrypt(emp.id_number_enc, context=_context(emp.employee_id, "id_number"))
        out["id_number"] = number if full else mask_id_number(number)
    return out


async def upsert_employee(
    session: AsyncSession, publisher: Publisher, cipher: FieldCipher, data: EmployeeWrite
) -> Employee:
    unit = await repository.get_unit(session, data.org_unit_id)
    if unit is None:
        raise Unprocessable(f"Unknown org unit {data.org_unit_id!r}.", field="org_unit_id")
    if (
        data.manager_id
        and data.manager_id != data.employee_id
        and await repository.get_employee(session, data.manager_id) is None
    ):
        raise Unprocessable(f"Unknown manager {data.manager_id!r}.", field="manager_id")
    emp = await repository.get_employee(session, data.employee_id)
    if emp is None:
        emp = Employee(employee_id=data.employee_id)
        session.add(emp)
    emp.name, emp.org_unit_id, emp.manager_id = data.name, data.org_unit_id, data.manager_id
    emp.job_role, emp.roles = data.job_role, [r.value for r in data.roles]
    emp.status, emp.hired_on, emp.updated_at = data.status.value, data.hired_on, utcnow()
    if data.phone is not None:
        emp.phone_enc = cipher.encrypt(data.phone, context=_context(emp.employee_id, "phone"))
    if data.id_number is not None:
        emp.id_number_enc = cipher.encrypt(
            data.id_number.upper(), context=_context(emp.employee_id, "id_number")
        )
    await session.flush()
    await publisher.publish(
        session,
        EmployeeUpserted(
            employee_id=emp.employee_id,
            name=emp.name,
            org_unit_id=emp.org_unit_id,
            org_path=list(unit.path),
            manager_id=emp.manager_id,
            job_role=emp.job_role,
            roles=list(emp.roles),
            status=data.status,
            hired_on=emp.hired_on,
        ),
    )
    return emp
