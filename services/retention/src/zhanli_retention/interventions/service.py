"""Interventions: recorded with the risk at the time (for the effect report), outcome set by
HR or the manager (a separation also shows in the effect report by itself)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_retention.features import repository as features
from zhanli_retention.interventions.models import Intervention
from zhanli_retention.interventions.schemas import InterventionCreate, OutcomeUpdate
from zhanli_retention.modeling import service as modeling
from zhanli_retention.scoring.models import RetentionScore
from zhanli_retention.scoring.service import can_see_risk
from zhanli_retention.settings import RetentionSettings
from zhanli_shared import audit
from zhanli_shared.auth import Principal
from zhanli_shared.db import utcnow
from zhanli_shared.errors import Forbidden, NotFound
from zhanli_shared.events.outbox import Publisher

DENIED = "Interventions are visible to HR and the person's management chain only."


async def _check(session: AsyncSession, principal: Principal, employee_id: str) -> None:
    person = await features.person(session, employee_id)
    if not can_see_risk(principal, employee_id, list(person.org_path or []) if person else []):
        raise Forbidden(DENIED)
    if person is None:
        raise NotFound(f"retention does not know {employee_id}", field="employee_id")


async def record(
    session: AsyncSession,
    publisher: Publisher,
    settings: RetentionSettings,
    employee_id: str,
    body: InterventionCreate,
    *,
    actor: Principal,
    source_ip: str | None,
) -> Intervention:
    await _check(session, actor, employee_id)
    score = await session.get(RetentionScore, employee_id)
    row = Intervention(
        id=str(uuid.uuid4()),
        employee_id=employee_id,
        kind=body.kind,
        note=body.note,
        owner_id=body.owner_id or actor.subject,
        started_on=body.started_on or modeling.today(settings),
        created_by=actor.subject,
        created_at=utcnow(),
        risk_at_time=score.risk_90 if score else None,
        rules_score_at_time=(len(score.rules_fired) / 3.0) if score else None,
        band_at_time=score.band if score else None,
        basis_at_time=score.basis if score else None,
        model_version=score.model_version if score else None,
        outcome="pending",
        outcome_note="",
    )
    session.add(row)
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="retention.intervention.recorded",
        entity_type="retention_intervention",
        entity_id=row.id,
        before=None,
        after={
            "employee_id": employee_id,
            "kind": body.kind,
            "note": "changed" if body.note else "unchanged",
        },
        source_ip=source_ip,
    )
    return row


async def of_person(
    session: AsyncSession, principal: Principal, employee_id: str
) -> list[Intervention]:
    await _check(session, principal, employee_id)
    return list(
        (
            await session.execute(
                select(Intervention)
                .where(Intervention.employee_id == employee_id)
                .order_by(Intervention.created_at, Intervention.id)
            )
        ).scalars()
    )


async def set_outcome(
    session: AsyncSession,
    publisher: Publisher,
    intervention_id: str,
    body: OutcomeUpdate,
    *,
    actor: Principal,
    source_ip: str | None,
) -> Intervention:
    row = await session.get(Intervention, intervention_id)
    if row is None:
        raise NotFound(f"no intervention {intervention_id}", field="intervention_id")
    await _check(session, actor, row.employee_id)
    before = {"outcome": row.outcome}
    row.outcome = body.outcome
    row.outcome_note = body.note
    row.outcome_by = actor.subject
    row.outcome_at = utcnow()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="retention.intervention.outcome",
        entity_type="retention_intervention",
        entity_id=row.id,
        before=before,
        after={"outcome": body.outcome},
        source_ip=source_ip,
    )
    return row
