"""Every query of requisitions, applications, interviews, reminders and re-scoring jobs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_talent.requisitions.models import (
    Application,
    Interview,
    ReminderSent,
    Requisition,
    RescoreJob,
)

OPEN_STAGES = ("applied", "screened", "interview", "offer")


async def get(session: AsyncSession, requisition_id: str) -> Requisition | None:
    return await session.get(Requisition, requisition_id)


async def list_visible(
    session: AsyncSession, subject: str | None, limit: int, offset: int
) -> list[Requisition]:
    rows = (
        await session.execute(select(Requisition).order_by(Requisition.created_at.desc()))
    ).scalars()
    reqs = [r for r in rows if subject is None or subject in (r.hiring_manager_ids or [])]
    return reqs[offset : offset + limit]


async def application(session: AsyncSession, application_id: str) -> Application | None:
    return await session.get(Application, application_id)


async def application_for(
    session: AsyncSession, requisition_id: str, candidate_id: str
) -> Application | None:
    return (
        await session.execute(
            select(Application).where(
                Application.requisition_id == requisition_id,
                Application.candidate_id == candidate_id,
            )
        )
    ).scalar_one_or_none()


async def applications_of_requisition(
    session: AsyncSession, requisition_id: str
) -> list[Application]:
    rows = await session.execute(
        select(Application).where(Application.requisition_id == requisition_id)
    )
    return list(rows.scalars())


async def applications_of_candidate(session: AsyncSession, candidate_id: str) -> list[Application]:
    rows = await session.execute(
        select(Application).where(Application.candidate_id == candidate_id)
    )
    return list(rows.scalars())


async def open_application_ids_of_family(session: AsyncSession, job_family: str) -> list[str]:
    rows = await session.execute(
        select(Application.id)
        .join(Requisition, Requisition.id == Application.requisition_id)
        .where(Requisition.job_family == job_family, Application.stage.in_(OPEN_STAGES))
        .order_by(Application.id)
    )
    return [r[0] for r in rows]


async def applications(session: AsyncSession, ids: Sequence[str]) -> list[Application]:
    rows = await session.execute(select(Application).where(Application.id.in_(list(ids))))
    return list(rows.scalars())


async def interviews_of(session: AsyncSession, application_ids: Sequence[str]) -> list[Interview]:
    out: list[Interview] = []
    ids = list(application_ids)
    for start in range(0, len(ids), 500):
        rows = await session.execute(
            select(Interview).where(Interview.application_id.in_(ids[start : start + 500]))
        )
        out.extend(rows.scalars())
    return out


async def interview(session: AsyncSession, interview_id: str) -> Interview | None:
    return await session.get(Interview, interview_id)


async def by_employee(session: AsyncSession, employee_id: str) -> list[Application]:
    rows = await session.execute(select(Application).where(Application.employee_id == employee_id))
    return list(rows.scalars())


async def offers_older_than(session: AsyncSession, before: dt.datetime) -> list[Application]:
    rows = await session.execute(
        select(Application).where(Application.stage == "offer", Application.offer_sent_at < before)
    )
    return list(rows.scalars())


async def feedback_overdue(session: AsyncSession, before: dt.datetime) -> list[Interview]:
    rows = await session.execute(
        select(Interview).where(Interview.submitted_at.is_(None), Interview.scheduled_at < before)
    )
    return list(rows.scalars())


async def idle_since(session: AsyncSession, before: dt.datetime) -> list[Application]:
    rows = await session.execute(
        select(Application).where(
            Application.stage.in_(OPEN_STAGES), Application.stage_changed_at < before
        )
    )
    return list(rows.scalars())


async def reminder_sent(session: AsyncSession, kind: str, subject_id: str) -> bool:
    row = (
        await session.execute(
            select(ReminderSent.id).where(
                ReminderSent.kind == kind, ReminderSent.subject_id == subject_id
            )
        )
    ).first()
    return row is not None


async def rescore_job(session: AsyncSession, job_id: str) -> RescoreJob | None:
    return await session.get(RescoreJob, job_id)


async def hired(session: AsyncSession, job_family: str | None) -> list[tuple[Application, str]]:
    stmt = (
        select(Application, Requisition.job_family)
        .join(Requisition, Requisition.id == Application.requisition_id)
        .where(Application.stage == "hired")
    )
    if job_family:
        stmt = stmt.where(Requisition.job_family == job_family)
    return [(a, f) for a, f in await session.execute(stmt)]


async def decided(
    session: AsyncSession, requisition_id: str | None, job_family: str | None
) -> list[Application]:
    stmt = select(Application).join(Requisition, Requisition.id == Application.requisition_id)
    if requisition_id:
        stmt = stmt.where(Application.requisition_id == requisition_id)
    if job_family:
        stmt = stmt.where(Requisition.job_family == job_family)
    return list((await session.execute(stmt)).scalars())
