"""Scores for every active person: the active model's calibrated 30/60/90-day risk (or the
rules while there is no model, saying why), the band, the top factors and the suggested
interventions; an alert event when someone enters the high band; the daily risk history."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_retention.core.advice import BandSettings
from zhanli_retention.core.features import FEATURES
from zhanli_retention.core.rules import RuleSettings
from zhanli_retention.features import repository as features
from zhanli_retention.modeling import pipeline
from zhanli_retention.modeling import service as modeling
from zhanli_retention.scoring.models import RetentionScore, RiskHistory
from zhanli_retention.settings import RetentionSettings
from zhanli_shared.auth import Principal, Role
from zhanli_shared.db import table_of, utcnow
from zhanli_shared.errors import Forbidden, NotFound
from zhanli_shared.events.contracts.retention import RiskAlertRaised, RiskFactor
from zhanli_shared.events.outbox import Publisher

HR = frozenset({Role.HR_ADMIN, Role.HR_BP})


def can_see_risk(principal: Principal, employee_id: str, org_path: list[str]) -> bool:
    """HR and the person's management chain; never peers, never finance or executives
    reading around (a risk score is not pay). The person concerned sees the explanation
    (``can_see_explanation``)."""
    if principal.has_any(HR):
        return True
    return principal.subject != employee_id and principal.manages(org_path)


def can_see_explanation(principal: Principal, employee_id: str, org_path: list[str]) -> bool:
    return employee_id == principal.subject or can_see_risk(principal, employee_id, org_path)


async def refresh(
    session: AsyncSession, publisher: Publisher, settings: RetentionSettings
) -> dict[str, int]:
    """Score every active person with a hire date; publish an alert for each one who
    entered the high band."""
    config = await modeling.get_config(session)
    rules, bands = modeling.rule_settings(config), modeling.band_settings(config)
    everyone = await features.people(session)
    rows = [
        r for r in everyone if r.hired_on is not None and r.left_on is None and r.status != "left"
    ]
    gone = [r.employee_id for r in everyone if r.left_on is not None or r.status == "left"]
    for i in range(0, len(gone), 500):
        # People who left are scored no more (their history stays in retention_risk_history).
        await session.execute(
            delete(RetentionScore).where(RetentionScore.employee_id.in_(gone[i : i + 500]))
        )
    facts = await features.facts(session, rows)
    day = modeling.today(settings)
    loaded = await modeling.load_model(session)
    model = loaded[1] if loaded else None
    version = loaded[0] if loaded else None
    reason = (
        f"Model {pipeline.MODEL_NAME} version {version.version} ({version.kind})"
        if version
        else await modeling.fallback_reason(session)
    )
    feats, x = pipeline.current_rows(facts, day, settings.probation_days)
    ids = [f.employee_id for f in facts]
    scores = await asyncio.to_thread(
        pipeline.score,
        ids,
        feats,
        x,
        model,
        rules=rules,
        bands=bands,
        probation_days=settings.probation_days,
        explain="flagged",
    )
    existing = (
        {
            s.employee_id: s
            for s in (
                await session.execute(
                    select(RetentionScore).where(RetentionScore.employee_id.in_(ids))
                )
            ).scalars()
        }
        if ids
        else {}
    )
    by_id = {r.employee_id: r for r in rows}
    now = utcnow()
    alerts = 0
    history: list[dict[str, Any]] = []
    for s in scores:
        row = existing.get(s.employee_id)
        previous = row.band if row else None
        if row is None:
            row = RetentionScore(employee_id=s.employee_id)
            session.add(row)
        row.basis = "model" if model is not None else "rules"
        row.basis_reason = reason[:500]
        row.model_name = pipeline.MODEL_NAME if version else None
        row.model_version = version.version if version else None
        row.risk_30, row.risk_60, row.risk_90 = s.risk[30], s.risk[60], s.risk[90]
        row.band = s.band
        row.previous_band = previous
        row.rules_band = s.rules_band
        row.rules_fired = s.rules_fired
        row.factors = s.factors
        row.interventions = s.interventions
        row.features = s.features
        row.scored_at = now
        if s.band == "high" and previous != "high":
            person = by_id[s.employee_id]
            await publisher.publish(
                session,
                RiskAlertRaised(
                    alert_id=str(uuid.uuid4()),
                    employee_id=s.employee_id,
                    manager_id=person.manager_id,
                    org_path=list(person.org_path or []),
                    band=s.band,
                    previous_band=previous,
                    probability_90d=_dec(s.risk[90]),
                    basis=row.basis,
                    model_version=row.model_version,
                    factors=[
                        RiskFactor(
                            feature=f["feature"],
                            label_en=f["label_en"],
                            label_zh=f["label_zh"],
                            value=_dec(f["value"]),
                        )
                        for f in s.factors
                    ],
                    rules_fired=s.rules_fired,
                    suggested_interventions=[i["kind"] for i in s.interventions],
                    raised_at=now,
                ),
            )
            row.alerted_at = now
            alerts += 1
        history.append(
            {
                "employee_id": s.employee_id,
                "day": day,
                "risk_90": s.risk[90],
                "rules_score": len(s.rules_fired) / max(1, len(rules.enabled)),
                "band": s.band,
            }
        )
    await _upsert_history(session, history)
    await session.flush()
    return {"scored": len(scores), "alerts": alerts, "basis_model": int(model is not None)}


async def _factors_now(session: AsyncSession, row: RetentionScore) -> list[dict[str, Any]]:
    """A person's factors computed when read (the refresh explains the high band only),
    from the features stored with the score."""
    loaded = await modeling.load_model(session)
    if loaded is None or loaded[0].version != row.model_version:
        return []
    x = np.array(
        [[np.nan if row.features.get(n) is None else float(row.features[n]) for n in FEATURES]]
    )
    arrays = pipeline.score_arrays(
        x,
        loaded[1],
        rules=RuleSettings(),
        bands=BandSettings(),
        probation_days=180,
        explain="all",
    )
    return pipeline.records([row.employee_id], x, arrays)[0].factors


def _dec(v: float | None) -> Decimal | None:
    return None if v is None else Decimal(str(round(v, 4)))


async def _upsert_history(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    table = table_of(RiskHistory)
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    for i in range(0, len(rows), 500):
        stmt = insert(table).values(rows[i : i + 500])
        stmt = stmt.on_conflict_do_update(
            index_elements=["employee_id", "day"],
            set_={k: stmt.excluded[k] for k in ("risk_90", "rules_score", "band")},
        )
        await session.execute(stmt)


async def refresh_all(runtime: Any, settings: RetentionSettings) -> dict[str, int]:
    async with runtime.sessions() as session:
        out = await refresh(session, runtime.publisher, settings)
        await session.commit()
    runtime.wake_relay()
    return out


async def score_of(
    session: AsyncSession, principal: Principal, employee_id: str, *, explanation: bool = False
) -> tuple[RetentionScore, Any]:
    person = await features.person(session, employee_id)
    org_path = list(person.org_path or []) if person else []
    allowed = (
        can_see_explanation(principal, employee_id, org_path)
        if explanation
        else can_see_risk(principal, employee_id, org_path)
    )
    if not allowed:
        raise Forbidden("Retention risk is visible to HR and the person's management chain only.")
    row = await session.get(RetentionScore, employee_id)
    if row is not None and row.basis == "model" and not row.factors:
        row.factors = await _factors_now(session, row)
    if row is None:
        raise NotFound(
            f"no retention score for {employee_id} (not an active person with a hire date, "
            "or not scored yet)",
            field="employee_id",
        )
    return row, person


async def visible_scores(
    session: AsyncSession, principal: Principal, band: str | None, limit: int, offset: int
) -> list[RetentionScore]:
    from zhanli_retention.features.models import RetentionPerson

    if not principal.has_any(HR) and not principal.org_units:
        raise Forbidden("Retention risk is visible to HR and the person's management chain only.")
    stmt = (
        select(RetentionScore, RetentionPerson.org_path)
        .join(RetentionPerson, RetentionPerson.employee_id == RetentionScore.employee_id)
        .order_by(RetentionScore.risk_90.desc().nulls_last(), RetentionScore.employee_id)
    )
    if band:
        stmt = stmt.where(RetentionScore.band == band)
    out: list[RetentionScore] = []
    skipped = 0
    for score, org_path in (await session.execute(stmt)).all():
        if not can_see_risk(principal, score.employee_id, list(org_path or [])):
            continue
        if skipped < offset:
            skipped += 1
            continue
        out.append(score)
        if len(out) >= limit:
            break
    return out
