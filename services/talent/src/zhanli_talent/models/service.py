"""The learned component: bootstrap a model from past candidates and their outcomes with
the shared ML toolkit (import with a mapping, leakage refusal, LightGBM vs the logistic
baseline on the same folds, calibration, registry, model card, fairness), and score live
candidates with the active version."""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_shared import audit
from zhanli_shared.auth import Principal
from zhanli_shared.errors import Unprocessable
from zhanli_shared.events.outbox import Publisher
from zhanli_shared.ml.pipeline import LearnOutcome, learn
from zhanli_shared.ml.tabular import build_dataset, read_table
from zhanli_shared.ml.training import TrainConfig
from zhanli_talent.candidates.models import Candidate
from zhanli_talent.db import registry
from zhanli_talent.models.schemas import HistoryImport
from zhanli_talent.profiles import repository as profiles_repo
from zhanli_talent.profiles import service as profiles
from zhanli_talent.profiles.models import CompetencyProfile
from zhanli_talent.profiles.schemas import KeywordWrite, ProfileWrite, TraitWrite

INTENDED_USE = (
    "Estimate the chance that a candidate for this job family, once hired, stays and "
    "performs; one part of the match score shown to recruiters and hiring managers as a "
    "recommendation. Never an automatic rejection: every pool decision is a person's "
    "(PIPL Art. 24; EU AI Act Annex III 4)."
)


def model_name(job_family: str) -> str:
    return f"talent.match.{job_family}"


def _decode(body: HistoryImport) -> bytes:
    try:
        return base64.b64decode(body.content_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Unprocessable("Not valid base64.", field="content_base64") from exc


def _monotone(body: HistoryImport) -> dict[str, int]:
    out = {
        feature: 1
        for feature, trait in body.feature_traits.items()
        if feature in body.mapping.numeric and trait != "source"
    }
    out.update({k: v for k, v in body.monotone.items() if k in body.mapping.numeric})
    return {k: v for k, v in out.items() if v}


async def import_history(
    session: AsyncSession,
    publisher: Publisher,
    job_family: str,
    body: HistoryImport,
    *,
    actor: Principal,
) -> tuple[Any, LearnOutcome, CompetencyProfile | None]:
    """Train and judge; store the version (rejected when it does not beat the baseline
    and the bar); when it passes, activate it and add a profile version blending it in."""
    current = await profiles_repo.active(session, job_family)
    if current is None:
        raise Unprocessable(
            f"Job family {job_family!r} has no active profile: write it first.",
            field="job_family",
        )
    for feature in body.feature_traits:
        if feature not in body.mapping.numeric and feature not in body.mapping.categorical:
            raise Unprocessable(
                f"{feature!r} is not a mapped feature column.", field="feature_traits"
            )
    data = _decode(body)
    raw = await asyncio.to_thread(read_table, data, filename=body.filename)
    dataset = await asyncio.to_thread(build_dataset, raw, body.mapping)
    name = model_name(job_family)
    config = TrainConfig(validation=body.validation, monotone=_monotone(body))
    outcome = await asyncio.to_thread(
        learn,
        dataset,
        name=name,
        intended_use=INTENDED_USE,
        config=config,
        fairness_kind="selection",
        created_by=actor.subject,
    )
    training = outcome.training | {
        "feature_traits": dict(body.feature_traits),
        "job_family": job_family,
        "filename": body.filename,
    }
    version = await registry.add(
        session,
        name,
        outcome.model,
        metrics=outcome.metrics,
        card=outcome.card,
        training=training,
        created_by=actor.subject,
        status="candidate" if outcome.decision.activate else "rejected",
    )
    profile = None
    if outcome.decision.activate:
        version = await registry.activate(session, name, version.version, by=actor.subject)
        profile = await profiles.write_version(
            session,
            publisher,
            job_family,
            _copy(current, learned_weight=body.learned_weight),
            actor=actor,
            learned_model=name,
            learned_from=current.learned_from,
        )
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="talent.model.trained",
        entity_type="model",
        entity_id=f"{name}:v{version.version}",
        before=None,
        after={
            "status": version.status,
            "rows": dataset.n,
            "champion": outcome.champion,
            "reasons": outcome.decision.reasons,
        },
    )
    return version, outcome, profile


def _copy(p: CompetencyProfile, *, learned_weight: float) -> ProfileWrite:
    return ProfileWrite(
        name=p.name,
        keywords=[KeywordWrite(keyword=k["keyword"], weight=k["weight"]) for k in p.keywords],
        traits=[
            TraitWrite(**{k: v for k, v in t.items() if k in TraitWrite.model_fields})
            for t in p.traits
        ],
        keyword_share=p.keyword_share,
        elimination_below=p.elimination_below,
        focus_above=p.focus_above,
        avg_doc_len=p.avg_doc_len,
        learned_weight=learned_weight,
        note="learned component activated",
    )


async def learned_probabilities(
    session: AsyncSession,
    profile: CompetencyProfile,
    cands: Sequence[Candidate],
    traits: Sequence[Mapping[str, float]],
) -> tuple[list[float | None], int | None]:
    """The active model's calibrated probability per candidate (None without a model),
    and the model version used."""
    if not profile.learned_model or profile.learned_weight <= 0:
        return [None] * len(cands), None
    found = await registry.load_active(session, profile.learned_model)
    if found is None:  # rolled back to nothing: the rules alone
        return [None] * len(cands), None
    version, model = found
    feature_traits: dict[str, str] = (version.training or {}).get("feature_traits", {})
    rows = []
    for cand, known in zip(cands, traits, strict=True):
        row: dict[str, Any] = {}
        for feature, trait in feature_traits.items():
            row[feature] = cand.source if trait == "source" else known.get(trait)
        rows.append(row)
    probs = model.score_records(rows)
    return [float(p) for p in probs], version.version
