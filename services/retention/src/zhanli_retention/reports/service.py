"""Reports: probation retention by cohort, the fairness of high-risk flags, the effect of
interventions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_retention.core import cohorts
from zhanli_retention.core.effect import Unit, matched_effect
from zhanli_retention.core.features import PersonFacts
from zhanli_retention.features import repository as features
from zhanli_retention.features.models import RetentionPerson
from zhanli_retention.interventions.models import Intervention
from zhanli_retention.modeling import service as modeling
from zhanli_retention.scoring.models import RetentionScore, RiskHistory
from zhanli_retention.settings import RetentionSettings
from zhanli_shared.ml.fairness import fairness_report


async def cohort_rows(
    session: AsyncSession, settings: RetentionSettings, by: str
) -> list[cohorts.CohortRow]:
    rows = [r for r in await features.people(session) if r.hired_on is not None]
    facts = await features.facts(session, rows)
    mentor = {r.employee_id: r.mentor_id or cohorts.UNKNOWN for r in rows}
    keys: dict[str, Callable[[PersonFacts, dt.date], str]] = {
        "hire_month": lambda p, d: p.hired_on.strftime("%Y-%m"),
        "match_score_band": cohorts.match_band,
        "training_band": cohorts.training_band,
        "mentor": lambda p, d: mentor[p.employee_id],
    }
    return cohorts.cohort_report(facts, keys[by], modeling.today(settings), settings.probation_days)


async def fairness(session: AsyncSession) -> dict[str, Any]:
    """High-risk flags among the people scored now, by gender and age band (four-fifths
    rule; small groups marked unreliable). The attributes come from HR, never from the
    model's features."""
    stmt = select(RetentionScore.band, RetentionPerson.protected).join(
        RetentionPerson, RetentionPerson.employee_id == RetentionScore.employee_id
    )
    data = (await session.execute(stmt)).all()
    flags = [band == "high" for band, _ in data]
    report = fairness_report(
        flags,
        {
            "gender": [(p or {}).get("gender") for _, p in data],
            "age_band": [(p or {}).get("age_band") for _, p in data],
        },
        kind="flag",
    )
    report["scope"] = "people scored now (active, with a hire date)"
    return report


async def effect(
    session: AsyncSession,
    settings: RetentionSettings,
    *,
    horizon_days: int = 90,
    caliper: float = 0.05,
) -> dict[str, Any]:
    """Retention ``horizon_days`` after an intervention, against people who received none,
    matched on their risk on the same kind of day (their risk history). Only interventions
    whose horizon has passed (or whose person left) count."""
    today = modeling.today(settings)
    people = {r.employee_id: r for r in await features.people(session)}
    ivs = list((await session.execute(select(Intervention))).scalars())
    treated_ids = {i.employee_id for i in ivs}
    first: dict[str, Intervention] = {}
    for iv in sorted(ivs, key=lambda i: (i.started_on, i.id)):
        first.setdefault(iv.employee_id, iv)

    def stayed(eid: str, start: dt.date) -> bool | None:
        p = people.get(eid)
        if p is None:
            return None
        end = start + dt.timedelta(days=horizon_days)
        if p.left_on is not None and p.left_on <= min(end, today):
            return False
        return True if end <= today else None

    treated: list[Unit] = []
    use_rules = False
    for eid, iv in first.items():
        s = stayed(eid, iv.started_on)
        if s is None:
            continue
        risk = iv.risk_at_time
        if risk is None:
            use_rules = True
        treated.append(Unit(eid, risk if risk is not None else (iv.rules_score_at_time or 0.0), s))
    # Controls: each untreated person's risk on a day whose horizon has passed.
    hist = (
        await session.execute(
            select(RiskHistory).where(RiskHistory.day <= today - dt.timedelta(days=horizon_days))
        )
    ).scalars()
    latest: dict[str, RiskHistory] = {}
    for h in hist:
        if h.employee_id in treated_ids:
            continue
        if h.employee_id not in latest or h.day < latest[h.employee_id].day:
            latest[h.employee_id] = h  # the earliest day: the longest known future
    controls = []
    for eid, h in latest.items():
        s = stayed(eid, h.day)
        if s is None:
            continue
        risk = h.rules_score if (use_rules or h.risk_90 is None) else h.risk_90
        controls.append(Unit(eid, risk, s))
    rep = matched_effect(treated, controls, caliper=caliper)
    return {
        "horizon_days": horizon_days,
        "matched_on": "rules score at the time" if use_rules else "90-day risk at the time",
        "caliper": caliper,
        "interventions": len(ivs),
        "treated_with_known_outcome": rep.treated,
        "matched_pairs": rep.matched,
        "unmatched": rep.unmatched,
        "treated_retention": rep.treated_retention if rep.matched else None,
        "control_retention": rep.control_retention if rep.matched else None,
        "difference": rep.difference if rep.matched else None,
        "ci95": [rep.ci_low, rep.ci_high] if rep.matched else None,
        "reliable": rep.reliable,
        "note": (
            "An observational comparison: matching on risk at the time removes what the "
            "model knows, not why a manager chose to intervene. Fewer than 20 pairs: "
            "unreliable. 控制组按当时风险匹配;仅供参考。"
        ),
        "by_kind": _by_kind(ivs, stayed),
    }


def _by_kind(
    ivs: list[Intervention], stayed: Callable[[str, dt.date], bool | None]
) -> list[dict[str, Any]]:
    acc: dict[str, list[int]] = {}
    for iv in ivs:
        s = stayed(iv.employee_id, iv.started_on)
        a = acc.setdefault(iv.kind, [0, 0, 0])
        a[0] += 1
        if s is True:
            a[1] += 1
        elif s is False:
            a[2] += 1
    return [
        {
            "kind": k,
            "interventions": v[0],
            "stayed": v[1],
            "left": v[2],
            "retention": round(v[1] / (v[1] + v[2]), 4) if v[1] + v[2] else None,
        }
        for k, v in sorted(acc.items())
    ]
