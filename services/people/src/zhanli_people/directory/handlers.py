"""Hires from the talent service: the person is created in the directory in probation,
so HR does not key the hire twice."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_people.directory import repository, service
from zhanli_people.directory.schemas import EmployeeWrite
from zhanli_shared.auth import Role
from zhanli_shared.crypto import FieldCipher
from zhanli_shared.events.consumer import HandlerRegistry
from zhanli_shared.events.contracts.directory import EmploymentStatus
from zhanli_shared.events.contracts.talent import CandidateHired
from zhanli_shared.events.envelope import CloudEvent
from zhanli_shared.events.outbox import Publisher

log = structlog.get_logger("zhanli.directory.hires")
HIRE_ACTOR = "talent-hire"


def register(registry: HandlerRegistry, publisher: Publisher, cipher: FieldCipher | None) -> None:
    @registry.on(CandidateHired)
    async def on_hired(session: AsyncSession, event: CandidateHired, envelope: CloudEvent) -> None:
        """Create the person in probation. A person already in the directory under that id
        is left as HR keyed them (the hire is then only logged); an unknown org unit is a
        failure (dead-lettered with the reason, for HR to fix and replay)."""
        if await repository.get_employee(session, event.employee_id) is not None:
            log.info("directory.hire_already_present", employee_id=event.employee_id)
            return
        if await repository.get_unit(session, event.org_unit_id) is None:
            raise ValueError(f"unknown org unit {event.org_unit_id!r} for hire {event.employee_id}")
        manager = event.manager_id
        if manager and await repository.get_employee(session, manager) is None:
            manager = None
        roles = [Role(event.job_role)] if event.job_role in {r.value for r in Role} else []
        data = EmployeeWrite(
            employee_id=event.employee_id,
            name=event.name,
            org_unit_id=event.org_unit_id,
            manager_id=manager,
            job_role=event.job_role,
            roles=roles,
            status=EmploymentStatus.PROBATION,
            hired_on=event.hired_on,
        )
        if cipher is None:
            raise RuntimeError(
                "no data keys configured (ZHANLI_DATA_KEYS_FILE or ZHANLI_DATA_KEYS)"
            )
        await service.upsert_employee(session, publisher, cipher, data, actor=HIRE_ACTOR)
