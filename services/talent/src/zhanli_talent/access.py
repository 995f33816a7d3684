"""Who sees recruiting data: HR and recruiters see every candidate; a hiring manager sees
the requisitions naming them and the candidates in those requisitions; nobody else. A
record out of the caller's scope is answered like an unknown one (404, no id enumeration;
the gateway audits it as a denial)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_shared.auth import Principal, Role
from zhanli_shared.errors import OutOfScope
from zhanli_talent.requisitions.models import Application, Requisition

RECRUITING_STAFF = frozenset({Role.HR_ADMIN, Role.HR_BP, Role.RECRUITER})
PROFILE_EDITORS = frozenset({Role.HR_ADMIN, Role.HR_BP})
PROFILE_READERS = RECRUITING_STAFF | {Role.SALES_MANAGER, Role.EXECUTIVE}
HIRING_MANAGER_ROLES = frozenset({Role.SALES_MANAGER, Role.EXECUTIVE, Role.HR_BP, Role.HR_ADMIN})


def is_staff(principal: Principal) -> bool:
    return principal.has_any(RECRUITING_STAFF)


def can_see_requisition(principal: Principal, req: Requisition) -> bool:
    return is_staff(principal) or principal.subject in (req.hiring_manager_ids or [])


def require_requisition(principal: Principal, req: Requisition) -> None:
    if not can_see_requisition(principal, req):
        raise OutOfScope(f"Unknown requisition {req.id!r}.")


async def require_candidate(session: AsyncSession, principal: Principal, candidate_id: str) -> None:
    """HR and recruiters, or a hiring manager of a requisition the candidate is in."""
    if is_staff(principal):
        return
    rows = await session.execute(
        select(Requisition.hiring_manager_ids)
        .join(Application, Application.requisition_id == Requisition.id)
        .where(Application.candidate_id == candidate_id)
    )
    for (managers,) in rows:
        if principal.subject in (managers or []):
            return
    raise OutOfScope(f"Unknown candidate {candidate_id!r}.")
