"""Directory use cases: upsert units and people, publish change events for projections."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_people.directory import repository
from zhanli_people.directory.models import Employee, OrgUnit
from zhanli_people.directory.schemas import EmployeeWrite, OrgUnitWrite, SeparationWrite
from zhanli_shared import audit
from zhanli_shared.auth import Principal
from zhanli_shared.crypto import FieldCipher, mask_id_number, mask_phone
from zhanli_shared.db import utcnow
from zhanli_shared.errors import NotFound, Unprocessable
from zhanli_shared.events.contracts.directory import (
    EmployeeSeparated,
    EmployeeUpserted,
    EmploymentStatus,
    OrgUnitKind,
    OrgUnitUpserted,
)
from zhanli_shared.events.outbox import Publisher


def _unit_state(unit: OrgUnit) -> dict[str, Any]:
    return {
        "name": unit.name,
        "kind": unit.kind,
        "parent_id": unit.parent_id,
        "manager_id": unit.manager_id,
        "path": list(unit.path),
    }


async def upsert_unit(
    session: AsyncSession,
    publisher: Publisher,
    data: OrgUnitWrite,
    *,
    actor: Principal | str = "system",
    source_ip: str | None = None,
) -> OrgUnit:
    path = [data.org_unit_id]
    if data.parent_id:
        parent = await repository.get_unit(session, data.parent_id)
        if parent is None:
            raise Unprocessable(f"Unknown parent unit {data.parent_id!r}.", field="parent_id")
        if data.org_unit_id in parent.path:
            raise Unprocessable("A unit cannot sit below itself.", field="parent_id")
        path = [*parent.path, data.org_unit_id]
    unit = await repository.get_unit(session, data.org_unit_id)
    before = _unit_state(unit) if unit is not None else None
    if unit is None:
        unit = OrgUnit(org_unit_id=data.org_unit_id)
        session.add(unit)
    elif unit.path != path and unit.parent_id != data.parent_id:
        raise Unprocessable(
            "Moving a unit to another parent is done with PATCH (or an HRIS import).",
            field="parent_id",
        )
    unit.name, unit.kind, unit.parent_id = data.name, data.kind.value, data.parent_id
    unit.manager_id, unit.path, unit.updated_at = data.manager_id, path, utcnow()
    await session.flush()
    await publisher.publish(session, _unit_event(unit))
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="directory.org_unit." + ("created" if before is None else "updated"),
        entity_type="org_unit",
        entity_id=unit.org_unit_id,
        before=before,
        after=_unit_state(unit),
        source_ip=source_ip,
    )
    return unit


def _context(employee_id: str, field: str) -> str:
    """Associated data binding a ciphertext to its row and field. It still names the gateway,
    where the directory lived first: the ciphertexts carried over from there stay readable."""
    return f"gateway:employees:{employee_id}:{field}"


def personal_context(employee_id: str, field: str) -> str:
    """The associated data of the person's encrypted ``field`` (``phone``, ``id_number``)."""
    return _context(employee_id, field)


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


def _employee_state(emp: Employee) -> dict[str, Any]:
    """What the audit log keeps of a person: never the phone or ID number in clear."""
    return {
        "name": emp.name,
        "org_unit_id": emp.org_unit_id,
        "manager_id": emp.manager_id,
        "job_role": emp.job_role,
        "roles": list(emp.roles),
        "status": emp.status,
        "hired_on": emp.hired_on,
        "separated_on": emp.separated_on,
        "separation_reason": emp.separation_reason,
        "phone_set": emp.phone_enc is not None,
        "id_number_set": emp.id_number_enc is not None,
    }


def _employee_event(emp: Employee, org_path: list[str]) -> EmployeeUpserted:
    return EmployeeUpserted(
        employee_id=emp.employee_id,
        name=emp.name,
        org_unit_id=emp.org_unit_id,
        org_path=list(org_path),
        manager_id=emp.manager_id,
        job_role=emp.job_role,
        roles=list(emp.roles),
        status=EmploymentStatus(emp.status),
        hired_on=emp.hired_on,
    )


def _unit_event(unit: OrgUnit) -> OrgUnitUpserted:
    return OrgUnitUpserted(
        org_unit_id=unit.org_unit_id,
        name=unit.name,
        kind=OrgUnitKind(unit.kind),
        parent_id=unit.parent_id,
        manager_id=unit.manager_id,
        path=list(unit.path),
    )


async def move_unit(
    session: AsyncSession,
    publisher: Publisher,
    org_unit_id: str,
    parent_id: str | None,
    *,
    actor: Principal | str = "system",
    source_ip: str | None = None,
) -> OrgUnit:
    """Move a unit (and everything below it) under ``parent_id`` (``None``: to the top).

    A unit cannot move below itself or one of its descendants. The materialized paths of
    the unit and of every unit below are rewritten, and each of them publishes its
    ``org_unit_upserted``; every person in those units publishes ``employee_upserted``
    with the new ``org_path`` (the services scope their reads by it). One audit entry
    records the move (before and after parent and path, and the units re-pathed).
    Moving to the current parent changes nothing and publishes nothing."""
    unit = await repository.get_unit(session, org_unit_id)
    if unit is None:
        raise NotFound(f"Unknown org unit {org_unit_id!r}.")
    if parent_id == unit.parent_id:
        return unit
    new_path = [org_unit_id]
    if parent_id is not None:
        parent = await repository.get_unit(session, parent_id)
        if parent is None:
            raise Unprocessable(f"Unknown parent unit {parent_id!r}.", field="parent_id")
        if org_unit_id in parent.path:
            raise Unprocessable(
                f"{org_unit_id!r} cannot move below itself or one of its descendants"
                f" ({parent_id!r} is below it).",
                field="parent_id",
            )
        new_path = [*parent.path, org_unit_id]
    before = _unit_state(unit)
    old_path = list(unit.path)
    subtree = await repository.units_in_subtree(session, org_unit_id)
    now = utcnow()
    for member in subtree:  # the unit itself included
        member.path = new_path + list(member.path)[len(old_path) :]
        member.updated_at = now
    unit.parent_id = parent_id
    await session.flush()
    paths = {m.org_unit_id: list(m.path) for m in subtree}
    for member in subtree:
        await publisher.publish(session, _unit_event(member))
    for emp in await repository.employees_in_units(session, sorted(paths)):
        await publisher.publish(session, _employee_event(emp, paths[emp.org_unit_id]))
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="directory.org_unit.moved",
        entity_type="org_unit",
        entity_id=org_unit_id,
        before=before,
        after=_unit_state(unit) | {"units_repathed": sorted(paths)},
        source_ip=source_ip,
    )
    return unit


def _personal_changed(
    emp: Employee | None, cipher: FieldCipher, field: str, stored: str | None, new: str | None
) -> bool:
    if new is None:
        return False
    if emp is None or stored is None:
        return True
    return cipher.decrypt(stored, context=_context(emp.employee_id, field)) != new


async def upsert_employee(
    session: AsyncSession,
    publisher: Publisher,
    cipher: FieldCipher,
    data: EmployeeWrite,
    *,
    actor: Principal | str = "system",
    source_ip: str | None = None,
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
    before = _employee_state(emp) if emp is not None else None
    phone_changed = _personal_changed(
        emp, cipher, "phone", emp.phone_enc if emp else None, data.phone
    )
    id_number_changed = _personal_changed(
        emp,
        cipher,
        "id_number",
        emp.id_number_enc if emp else None,
        data.id_number.upper() if data.id_number else None,
    )
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
    await publisher.publish(session, _employee_event(emp, unit.path))
    after = _employee_state(emp) | {
        "phone": "changed" if phone_changed else "unchanged",
        "id_number": "changed" if id_number_changed else "unchanged",
    }
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="directory.employee." + ("created" if before is None else "updated"),
        entity_type="employee",
        entity_id=emp.employee_id,
        before=before,
        after=after,
        source_ip=source_ip,
    )
    return emp


async def record_separation(
    session: AsyncSession,
    publisher: Publisher,
    employee_id: str,
    data: SeparationWrite,
    *,
    actor: Principal | str = "system",
    source_ip: str | None = None,
) -> Employee:
    """The person left on ``separated_on`` for ``reason``: status ``left``, the separation
    kept, ``employee_upserted`` and ``employee_separated`` published, audited. The same
    separation again changes and publishes nothing; a corrected one is published again."""
    emp = await repository.get_employee(session, employee_id)
    if emp is None:
        raise NotFound(f"Unknown person {employee_id!r}.")
    if emp.hired_on is not None and data.separated_on < emp.hired_on:
        raise Unprocessable(
            f"The separation date is before the hire date ({emp.hired_on}).", field="separated_on"
        )
    same = (
        emp.status == EmploymentStatus.LEFT.value
        and emp.separated_on == data.separated_on
        and emp.separation_reason == data.reason.value
        and emp.separation_detail == data.reason_detail
    )
    if same:
        return emp
    before = _employee_state(emp)
    status_changed = emp.status != EmploymentStatus.LEFT.value
    emp.status = EmploymentStatus.LEFT.value
    emp.separated_on, emp.separation_reason = data.separated_on, data.reason.value
    emp.separation_detail, emp.updated_at = data.reason_detail, utcnow()
    await session.flush()
    unit = await repository.get_unit(session, emp.org_unit_id)
    path = list(unit.path) if unit else [emp.org_unit_id]
    if status_changed:
        await publisher.publish(session, _employee_event(emp, path))
    await publisher.publish(
        session,
        EmployeeSeparated(
            employee_id=emp.employee_id,
            separated_on=data.separated_on,
            reason=data.reason,
            reason_detail=data.reason_detail,
            hired_on=emp.hired_on,
            job_role=emp.job_role,
            org_path=path,
            recorded_at=emp.updated_at,
        ),
    )
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="directory.employee.separated",
        entity_type="employee",
        entity_id=emp.employee_id,
        before=before,
        after=_employee_state(emp)
        | {"separation_detail": "changed" if data.reason_detail else "unchanged"},
        source_ip=source_ip,
    )
    return emp
