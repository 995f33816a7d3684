"""The hazard model's training path and its scoring, through the shared learning toolkit
(``zhanli_shared.ml``): point-in-time person-weeks in, a calibrated LightGBM (and the
logistic baseline, and the rules) validated on later hire cohorts out.

CPU-bound: call ``fit`` and ``score`` from a worker thread in the service."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zhanli_retention.core.advice import (
    RULE_FACTOR,
    BandSettings,
    band_of,
    suggest,
    top_factors,
)
from zhanli_retention.core.features import FEATURES, PersonFacts, relative_to_peers, snapshot
from zhanli_retention.core.hazard import HORIZON_WEEKS, HazardDataset, HazardSettings, build_dataset
from zhanli_retention.core.rules import RuleSettings, evaluate
from zhanli_shared.ml.tabular import Dataset, Feature, FeatureSpec
from zhanli_shared.ml.training import (
    TrainConfig,
    TrainedModel,
    TrainResult,
    concordance_index,
    train,
)

MODEL_NAME = "retention.hazard_weekly"
SPEC = FeatureSpec(tuple(Feature(n, "numeric") for n in FEATURES))
Progress = Callable[[float, str], None]


class NotEnoughHistory(Exception):
    """Too little history to train (the service stays on its rules and says why)."""

    def __init__(self, reason: str, facts: dict[str, Any]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.facts = facts


@dataclass(frozen=True)
class Minimums:
    people: int = 100
    exits: int = 30
    cohorts: int = 3


def config_for(rows: int, positives: int) -> TrainConfig:
    """Small-data settings: more regularisation and bigger leaves while exits are few;
    validation on later hire cohorts; Platt calibration on out-of-fold predictions; one
    thread and a fixed seed (the same data gives the same model)."""
    few = positives < 2000
    return TrainConfig(
        validation="later",
        folds=4,
        num_threads=1,
        max_rounds=300 if not few else 200,
        learning_rate=0.05,
        num_leaves=15 if not few else 7,
        max_depth=6 if not few else 4,
        min_data_in_leaf=max(20, min(200, rows // 200)),
        lambda_l2=5.0 if not few else 10.0,
        calibration="sigmoid",
        top_k=(0.05, 0.1, 0.2),
    )


@dataclass
class Prepared:
    hazard: HazardDataset
    dataset: Dataset
    rules: np.ndarray
    people: int
    exits: int
    cohorts: list[str]
    observed_until: dt.date
    horizon_weeks: int = 1


def prepare(
    people: Sequence[PersonFacts],
    observed_until: dt.date,
    *,
    hazard: HazardSettings,
    rules: RuleSettings,
    minimums: Minimums,
) -> Prepared:
    ds = build_dataset(people, observed_until, hazard)
    exits = ds.left_people
    cohorts = sorted(set(ds.cohort))
    facts = {
        "people": len(people),
        "exits": exits,
        "person_weeks": len(ds),
        "cohorts": len(cohorts),
        "needed": {"people": minimums.people, "exits": minimums.exits, "cohorts": minimums.cohorts},
    }
    if len(people) < minimums.people:
        raise NotEnoughHistory(
            f"{len(people)} people with a hire date; at least {minimums.people} are needed", facts
        )
    if exits < minimums.exits:
        raise NotEnoughHistory(
            f"{exits} separations with a date; at least {minimums.exits} are needed", facts
        )
    if len(cohorts) < minimums.cohorts:
        raise NotEnoughHistory(
            f"{len(cohorts)} hire months; at least {minimums.cohorts} are needed to validate "
            "on later cohorts",
            facts,
        )
    x = np.asarray(ds.x, dtype=np.float64)
    person_index: dict[str, int] = {}
    groups = np.array([person_index.setdefault(p, len(person_index)) for p in ds.person])
    time = np.array([int(c[:4]) * 12 + int(c[5:7]) for c in ds.cohort], dtype=np.float64)
    dataset = Dataset.from_arrays(
        SPEC, x, np.asarray(ds.y), groups=groups, time=time, ids=ds.person
    )
    rule_scores = np.array(
        [evaluate(dict(zip(FEATURES, row, strict=True)), rules).score for row in ds.x]
    )
    return Prepared(
        ds, dataset, rule_scores, len(people), exits, cohorts, observed_until, hazard.horizon_weeks
    )


@dataclass
class Fitted:
    result: TrainResult
    candidate: str  # "model" or "baseline"
    chosen: TrainedModel
    metrics: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=dict)


def person_concordance(prep: Prepared, oof: np.ndarray, weeks: int = 4) -> float | None:
    """Harrell's C on the validated people: the mean out-of-fold weekly hazard of their
    first ``weeks`` weeks against their observed tenure (censored or not)."""
    ds = prep.hazard
    risk: dict[str, list[float]] = {}
    tenure: dict[str, int] = {}
    event: dict[str, int] = {}
    for i, p in enumerate(ds.person):
        tenure[p] = tenure.get(p, 0) + 1
        event[p] = max(event.get(p, 0), ds.y[i])
        if not math.isnan(oof[i]) and ds.week[i] < weeks:
            risk.setdefault(p, []).append(float(oof[i]))
    ids = sorted(risk)
    if len(ids) < 10:
        return None
    c = concordance_index(
        np.array([tenure[p] for p in ids], dtype=np.float64),
        np.array([event[p] for p in ids], dtype=np.int64),
        np.array([sum(risk[p]) / len(risk[p]) for p in ids]),
    )
    return None if math.isnan(c) else float(c)


def fit(
    prep: Prepared, *, progress: Progress | None = None, config: TrainConfig | None = None
) -> Fitted:
    config = config or config_for(len(prep.hazard), prep.hazard.positives)
    result = train(prep.dataset, config, progress=progress, rules=prep.rules)
    candidate, chosen = result.champion()
    metrics = dict(result.metrics)
    metrics["concordance"] = {
        "model": person_concordance(prep, result.oof),
        "baseline": person_concordance(prep, result.oof_baseline),
        "rules": person_concordance(prep, prep.rules.astype(np.float64)),
    }
    metrics["label"] = (
        f"leaves within the next {prep.horizon_weeks} week(s), one row per person-week "
        "(discrete-time hazard); 30/60/90-day risks are projected from it"
    )
    summary = {
        "people": prep.people,
        "exits": prep.exits,
        "person_weeks": len(prep.hazard),
        "positives": prep.hazard.positives,
        "censored_people": prep.hazard.censored_people,
        "cohorts": prep.cohorts,
        "observed_until": prep.observed_until.isoformat(),
        "validation": result.validation,
        "candidate": candidate,
    }
    return Fitted(result, candidate, chosen, metrics, summary)


# ----------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class Score:
    employee_id: str
    risk: dict[int, float | None]  # days -> probability
    band: str
    factors: list[dict[str, Any]]
    interventions: list[dict[str, str]]
    rules_fired: list[str]
    rules_band: str
    features: dict[str, float | None]


def current_rows(
    people: Sequence[PersonFacts], as_of: dt.date, probation_days: int
) -> tuple[list[dict[str, float]], np.ndarray]:
    rows = [snapshot(p, as_of, probation_days=probation_days) for p in people]
    relative_to_peers(rows, [0] * len(rows))
    x = np.array([[r[n] for n in FEATURES] for r in rows], dtype=np.float64).reshape(
        len(rows), len(FEATURES)
    )
    return rows, x


def horizon_risks(model: TrainedModel, x: np.ndarray, probation_days: int) -> dict[int, np.ndarray]:
    """30/60/90-day risks from the weekly hazard model: the rows moved forward week by week
    (tenure and probation day only), hazards chained."""
    n = x.shape[0]
    weeks = max(HORIZON_WEEKS.values())
    i_t, i_pd, i_ip = (FEATURES.index(k) for k in ("tenure_weeks", "probation_day", "in_probation"))
    stacked = np.repeat(x[np.newaxis, :, :], weeks, axis=0)  # weeks x n x p
    shift = np.arange(weeks, dtype=np.float64)[:, np.newaxis]
    tenure = x[np.newaxis, :, i_t] + shift
    stacked[:, :, i_t] = tenure
    days = tenure * 7
    stacked[:, :, i_pd] = np.minimum(days, probation_days)
    stacked[:, :, i_ip] = (days < probation_days).astype(np.float64)
    hazards = model.predict_proba(stacked.reshape(weeks * n, -1)).reshape(weeks, n)
    survival = np.cumprod(1.0 - np.clip(hazards, 0, 1), axis=0)
    return {days_: 1.0 - survival[w - 1] for days_, w in HORIZON_WEEKS.items()}


def score(
    ids: Sequence[str],
    rows: Sequence[dict[str, float]],
    x: np.ndarray,
    model: TrainedModel | None,
    *,
    rules: RuleSettings,
    bands: BandSettings,
    probation_days: int,
    top: int = 3,
) -> list[Score]:
    risks: dict[int, np.ndarray] | None = None
    contrib: np.ndarray | None = None
    if model is not None and len(ids):
        risks = horizon_risks(model, x, probation_days)
        contrib = model.contributions(x)
    out: list[Score] = []
    for i, eid in enumerate(ids):
        r = evaluate(rows[i], rules)
        rules_band = r.band(rules)
        if risks is not None and contrib is not None:
            p90 = float(risks[90][i])
            band = band_of(p90, bands)
            factors = top_factors(
                contrib[i, : len(FEATURES)].tolist(), x[i].tolist(), FEATURES, n=top
            )
            risk: dict[int, float | None] = {d: float(risks[d][i]) for d in risks}
        else:
            band = rules_band
            fired = {RULE_FACTOR[name] for name in r.fired}
            weights = [1.0 if n in fired else 0.0 for n in FEATURES]
            factors = top_factors(weights, x[i].tolist(), FEATURES, n=top)
            risk = {30: None, 60: None, 90: None}
        out.append(
            Score(
                employee_id=eid,
                risk=risk,
                band=band,
                factors=[
                    {
                        "feature": f.feature,
                        "contribution": round(f.contribution, 4),
                        "value": None if f.value is None else round(f.value, 4),
                        "label_en": f.en,
                        "label_zh": f.zh,
                    }
                    for f in factors
                ],
                interventions=[
                    {"kind": iv.kind, "en": iv.en, "zh": iv.zh}
                    for iv in suggest([f.feature for f in factors])
                ],
                rules_fired=r.fired,
                rules_band=rules_band,
                features={
                    n: (None if math.isnan(float(x[i, j])) else round(float(x[i, j]), 4))
                    for j, n in enumerate(FEATURES)
                },
            )
        )
    return out
