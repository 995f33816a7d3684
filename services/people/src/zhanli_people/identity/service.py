"""The built-in issuer: local users, login, and the bootstrap administrator."""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_people.directory import repository as directory
from zhanli_people.identity.models import LocalUser
from zhanli_people.identity.passwords import hash_password, verify_password
from zhanli_people.identity.schemas import UserCreate
from zhanli_shared import audit
from zhanli_shared.auth import Principal, Role, TokenIssuer
from zhanli_shared.db import utcnow
from zhanli_shared.errors import Conflict, Unauthorized
from zhanli_shared.events.contracts.directory import EmploymentStatus
from zhanli_shared.events.outbox import Publisher

log = structlog.get_logger("zhanli.identity")
BOOTSTRAP_ADMIN = "admin"
# Least privilege: IT operations set up technical accounts; only HR grants people roles.
IT_OPS_GRANTABLE = frozenset({Role.INTEGRATION.value, Role.IT_OPS.value})


async def ensure_bootstrap_admin(session: AsyncSession, password: str | None) -> bool:
    """Create the first administrator when there are no users at all."""
    count = (await session.execute(select(func.count()).select_from(LocalUser))).scalar_one()
    if count or not password:
        return False
    session.add(
        LocalUser(
            username=BOOTSTRAP_ADMIN,
            password_hash=hash_password(password),
            employee_id=None,
            roles=[Role.HR_ADMIN.value, Role.IT_OPS.value],
            active=True,
            created_at=utcnow(),
        )
    )
    log.info("identity.bootstrap_admin_created", username=BOOTSTRAP_ADMIN)
    return True


async def create_user(
    session: AsyncSession,
    data: UserCreate,
    *,
    publisher: Publisher,
    actor: Principal | str,
    source_ip: str | None = None,
) -> LocalUser:
    if await session.get(LocalUser, data.username) is not None:
        raise Conflict(f"User {data.username!r} already exists.", field="username")
    user = LocalUser(
        username=data.username,
        password_hash=await asyncio.to_thread(hash_password, data.password),
        employee_id=data.employee_id,
        roles=[r.value for r in data.roles],
        active=True,
        created_at=utcnow(),
    )
    session.add(user)
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="identity.user.created",
        entity_type="user",
        entity_id=user.username,
        before=None,
        after={"employee_id": user.employee_id, "roles": sorted(user.roles), "active": True},
        source_ip=source_ip,
    )
    return user


async def login(session: AsyncSession, issuer: TokenIssuer, username: str, password: str) -> str:
    user = await session.get(LocalUser, username)
    # scrypt is deliberately slow: keep it off the event loop.
    if (
        user is None
        or not user.active
        or not await asyncio.to_thread(verify_password, password, user.password_hash)
    ):
        raise Unauthorized("Unknown user or wrong password.")
    subject = user.employee_id or user.username
    # Data scope follows the org tree: the units this person manages, and all below them.
    managed = await directory.units_managed_by(session, subject) if user.employee_id else []
    scope = await directory.units_below(session, managed) if managed else []
    name = None
    if user.employee_id:
        emp = await directory.get_employee(session, user.employee_id)
        if emp is not None and emp.status == EmploymentStatus.LEFT:
            raise Unauthorized("Unknown user or wrong password.")  # departed: no sign-in
        name = emp.name if emp else None
    return issuer.issue(subject, user.roles, org_units=scope, name=name)
