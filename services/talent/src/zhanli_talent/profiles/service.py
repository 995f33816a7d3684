"""Competency profile use cases: write a version, activate one, learn one from the top
performers; and the profile as the scoring core sees it."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_shared import audit
from zhanli_shared.auth import Principal
from zhanli_shared.db import utcnow
from zhanli_shared.errors import NotFound, Unprocessable
from zhanli_shared.events.outbox import Publisher
from zhanli_talent.auditing import exact
from zhanli_talent.core import profiles as learning
from zhanli_talent.core.scoring import KeywordSpec, ProfileSpec, TraitSpec
from zhanli_talent.core.text import analyzer
from zhanli_talent.db import people_table
from zhanli_talent.profiles import repository
from zhanli_talent.profiles.models import CompetencyProfile, KpiScore, TraitObservation
from zhanli_talent.profiles.schemas import (
    KeywordWrite,
    LearnRequest,
    ProfileWrite,
    TraitObservationsWrite,
    TraitWrite,
)

MATCHED_SOURCES = ("assessment", "interview")


def _keywords(data: ProfileWrite) -> list[dict[str, Any]]:
    a = analyzer()
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for k in data.keywords:
        term = a.canonical(k.keyword)
        if term in seen:
            raise Unprocessable(
                f"{k.keyword!r} is the same term as another keyword ({term}).", field="keywords"
            )
        seen.add(term)
        out.append({"keyword": k.keyword, "term": term, "weight": k.weight})
    return out


def _traits(data: ProfileWrite) -> list[dict[str, Any]]:
    out = []
    for t in data.traits:
        tolerance = t.tolerance or max(abs(t.threshold) * 0.4, 1e-6)
        if t.source == "interview" and not t.name.startswith("interview."):
            raise Unprocessable(
                f"Interview traits are named interview.<criterion>, not {t.name!r}.",
                field="traits",
            )
        out.append(t.model_dump() | {"tolerance": tolerance})
    return out


def state(p: CompetencyProfile) -> dict[str, Any]:
    return exact(
        {
            "version": p.version,
            "active": p.active,
            "keywords": p.keywords,
            "traits": p.traits,
            "keyword_share": p.keyword_share,
            "elimination_below": p.elimination_below,
            "focus_above": p.focus_above,
            "learned_weight": p.learned_weight,
        }
    )


async def write_version(
    session: AsyncSession,
    publisher: Publisher,
    job_family: str,
    data: ProfileWrite,
    *,
    actor: Principal | str,
    activate: bool = True,
    learned_from: dict[str, Any] | None = None,
    learned_model: str | None = None,
) -> CompetencyProfile:
    """Add the family's next version (active unless ``activate`` is False)."""
    before = await repository.active(session, job_family)
    if activate:
        await repository.deactivate_family(session, job_family)
    profile = CompetencyProfile(
        id=str(uuid.uuid4()),
        job_family=job_family,
        version=await repository.next_version(session, job_family),
        active=activate,
        name=data.name,
        keywords=_keywords(data),
        traits=_traits(data),
        keyword_share=data.keyword_share,
        elimination_below=data.elimination_below,
        focus_above=data.focus_above,
        avg_doc_len=data.avg_doc_len,
        learned_weight=data.learned_weight,
        learned_model=learned_model or (before.learned_model if before else None),
        learned_from=learned_from,
        note=data.note,
        created_by=actor.subject if isinstance(actor, Principal) else actor,
        created_at=utcnow(),
    )
    session.add(profile)
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="talent.profile.version_added",
        entity_type="competency_profile",
        entity_id=f"{job_family}:v{profile.version}",
        before=state(before) if before else None,
        after=state(profile),
    )
    return profile


async def activate(
    session: AsyncSession, publisher: Publisher, job_family: str, number: int, *, actor: Principal
) -> CompetencyProfile:
    profile = await repository.version(session, job_family, number)
    if profile is None:
        raise NotFound(f"No version {number} of profile {job_family!r}.")
    before = await repository.active(session, job_family)
    if before is not None and before.id == profile.id:
        return profile
    await repository.deactivate_family(session, job_family)
    profile.active = True
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="talent.profile.activated",
        entity_type="competency_profile",
        entity_id=f"{job_family}:v{number}",
        before={"active_version": before.version if before else None},
        after={"active_version": number},
    )
    return profile


async def learn(
    session: AsyncSession,
    publisher: Publisher,
    job_family: str,
    req: LearnRequest,
    *,
    actor: Principal,
) -> CompetencyProfile:
    """A new version whose traits, thresholds and weights come from the top performers."""
    people: list[str] | None = None
    if req.job_role:
        rows = await session.execute(
            select(people_table.c.employee_id).where(people_table.c.job_role == req.job_role)
        )
        people = [r[0] for r in rows]
    kpi = await repository.mean_kpi(session, req.period_from, req.period_to, people)
    if len(kpi) < 2:
        raise Unprocessable(
            f"{len(kpi)} people have KPI scores in {req.period_from}..{req.period_to}"
            + (f" as {req.job_role}" if req.job_role else "")
            + ": too few to find a top group.",
            field="period_from",
        )
    observations = await repository.trait_means(session, sorted(kpi))
    if not observations:
        raise Unprocessable(
            "No trait observations of these people: record them first "
            "(PUT /api/v1/talent/trait-observations).",
            field="trait_sources",
        )
    effects = learning.trait_effects(
        kpi, observations, share=req.top_share, lower_is_better=frozenset(req.lower_is_better)
    )
    current = await repository.active(session, job_family)
    traits: list[TraitWrite] = []
    for e in effects:
        if e.suggested_threshold is None:
            continue
        source = req.trait_sources.get(e.trait, "assessment")
        if source == "interview" and not e.trait.startswith("interview."):
            source = "assessment"
        traits.append(
            TraitWrite(
                name=e.trait,
                source=source,
                weight=e.suggested_weight,
                threshold=round(e.suggested_threshold, 4),
                higher_is_better=e.higher_is_better,
            )
        )
    base = (
        ProfileWrite(
            name=req.name or current.name,
            keywords=[
                KeywordWrite(keyword=k["keyword"], weight=k["weight"]) for k in current.keywords
            ],
            keyword_share=current.keyword_share,
            elimination_below=current.elimination_below,
            focus_above=current.focus_above,
            avg_doc_len=current.avg_doc_len,
            learned_weight=current.learned_weight,
        )
        if current is not None
        else ProfileWrite(name=req.name or job_family)
    )
    data = base.model_copy(update={"traits": traits})
    top = learning.top_group(kpi, req.top_share)
    learned_from = exact(
        {
            "kpi": "zhanli.kpi.score_updated (mean score)",
            "period_from": req.period_from,
            "period_to": req.period_to,
            "job_role": req.job_role,
            "top_share": req.top_share,
            "people": len(kpi),
            "top_group": len(top),
            "effects": [asdict(e) for e in effects],
        }
    )
    learned_from = _plain(learned_from)
    return await write_version(
        session,
        publisher,
        job_family,
        data,
        actor=actor,
        activate=req.activate,
        learned_from=learned_from,
    )


def _plain(value: Any) -> Any:
    """JSON-ready: Decimals back to floats for the JSON column."""
    from decimal import Decimal

    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def spec_of(p: CompetencyProfile) -> ProfileSpec:
    """The profile as the scoring core sees it (behaviour traits are not matched)."""
    return ProfileSpec(
        keywords=[
            KeywordSpec(term=k["term"], weight=float(k["weight"]), label=k["keyword"])
            for k in p.keywords
        ],
        traits=[
            TraitSpec(
                name=t["name"],
                weight=float(t["weight"]),
                threshold=float(t["threshold"]),
                tolerance=float(t["tolerance"]),
                higher_is_better=bool(t.get("higher_is_better", True)),
                label=t.get("label"),
            )
            for t in p.traits
            if t.get("source", "assessment") in MATCHED_SOURCES
        ],
        keyword_share=p.keyword_share,
        elimination_below=p.elimination_below,
        focus_above=p.focus_above,
        avg_doc_len=p.avg_doc_len,
        learned_weight=p.learned_weight if p.learned_model else 0.0,
    )


async def record_observations(session: AsyncSession, data: TraitObservationsWrite) -> int:
    now = utcnow()
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    rows = [o.model_dump() | {"recorded_at": now} for o in data.observations]
    for start in range(0, len(rows), 500):
        stmt = insert(TraitObservation).values(rows[start : start + 500])
        stmt = stmt.on_conflict_do_update(
            index_elements=["employee_id", "trait", "observed_on"],
            set_={
                "value": stmt.excluded.value,
                "source": stmt.excluded.source,
                "recorded_at": stmt.excluded.recorded_at,
            },
        )
        await session.execute(stmt)
    return len(rows)


async def project_kpi(
    session: AsyncSession, employee_id: str, period: str, score: float, calculated_at: Any
) -> None:
    """Keep the newest KPI score of a person's period (an older event arriving late loses)."""
    row = await session.get(KpiScore, (employee_id, period))
    if row is None:
        session.add(
            KpiScore(
                employee_id=employee_id, period=period, score=score, calculated_at=calculated_at
            )
        )
    elif calculated_at >= row.calculated_at:
        row.score, row.calculated_at = score, calculated_at
    await session.flush()
