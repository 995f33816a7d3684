"""The hazard model's training path and its scoring, through the shared learning toolkit
(``zhanli_shared.ml``): point-in-time person-weeks in, a calibrated LightGBM (and the
logistic baseline, and the rules) validated on later hire cohorts out.

CPU-bound: call ``fit`` and ``score`` from a worker thread in the service."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from zhanli_retention.core.advice import (
    RULE_FACTOR,
    BandSettings,
    suggest,
)
from zhanli_retention.core.features import (
    FEATURE_LABELS,
    FEATURES,
    PersonFacts,
    relative_to_peers,
    snapshot,
)
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
    """Validation on later hire cohorts (forward folds); Platt calibration on out-of-fold
    predictions; one thread and a fixed seed (the same data gives the same model). The
    toolkit picks its small-data profile (shallow, strongly regularised trees, larger
    leaves) below 20,000 rows and its large one above."""
    return TrainConfig(validation="later", folds=4, num_threads=1, calibration="sigmoid")


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


GRID = (0, 3, 6, 9, 12)  # weeks ahead where the hazard is predicted (then interpolated)


def horizon_risks(model: TrainedModel, x: np.ndarray, probation_days: int) -> dict[int, np.ndarray]:
    """30/60/90-day risks from the weekly hazard model: the rows moved forward in tenure
    (and probation day; the other signals held), the hazard predicted at weeks 0, 3, 6, 9
    and 12 ahead and interpolated linearly between them (a tree's hazard is a step
    function of tenure: 5 predictions a person instead of 13), then chained."""
    n = x.shape[0]
    weeks = max(HORIZON_WEEKS.values())
    i_t, i_pd, i_ip = (FEATURES.index(k) for k in ("tenure_weeks", "probation_day", "in_probation"))
    grid = np.asarray(GRID, dtype=np.float64)
    stacked = np.repeat(x[np.newaxis, :, :], len(grid), axis=0)  # grid x n x p
    tenure = x[np.newaxis, :, i_t] + grid[:, np.newaxis]
    stacked[:, :, i_t] = tenure
    days = tenure * 7
    stacked[:, :, i_pd] = np.minimum(days, probation_days)
    stacked[:, :, i_ip] = (days < probation_days).astype(np.float64)
    at_grid = model.predict_proba(stacked.reshape(len(grid) * n, -1)).reshape(len(grid), n)
    ahead = np.arange(weeks, dtype=np.float64)
    left = np.clip(np.searchsorted(grid, ahead, side="right") - 1, 0, len(grid) - 2)
    frac = ((ahead - grid[left]) / (grid[left + 1] - grid[left]))[:, np.newaxis]
    hazards = at_grid[left] * (1 - frac) + at_grid[left + 1] * frac  # weeks x n
    survival = np.cumprod(1.0 - np.clip(hazards, 0, 1), axis=0)
    return {days_: 1.0 - survival[w - 1] for days_, w in HORIZON_WEEKS.items()}


def rule_flags(x: np.ndarray, rules: RuleSettings) -> tuple[np.ndarray, list[str]]:
    """The rules on a whole matrix at once: (n x rules) fired booleans, rule names (the
    same semantics as ``core.rules.evaluate``: an unknown signal never fires)."""
    cols: list[np.ndarray] = []
    names: list[str] = []
    with np.errstate(invalid="ignore"):
        if "training_completion" in rules.enabled:
            cols.append(
                x[:, FEATURES.index("training_completion")] < rules.training_completion_below
            )
            names.append("training_completion")
        if "mentor_rating" in rules.enabled:
            cols.append(x[:, FEATURES.index("mentor_rating")] < rules.mentor_rating_below)
            names.append("mentor_rating")
        if "zero_growth" in rules.enabled:
            cols.append(x[:, FEATURES.index("zero_growth_weeks")] >= rules.zero_growth_weeks)
            names.append("zero_growth")
    fired = np.stack(cols, axis=1) if cols else np.zeros((x.shape[0], 0), dtype=bool)
    return fired, names


@dataclass
class ScoreArrays:
    """Scores of a whole matrix, column by column (what ``records`` turns into rows)."""

    risks: dict[int, np.ndarray] | None
    band: np.ndarray
    rules_band: np.ndarray
    fired: np.ndarray
    rule_names: list[str]
    top_index: np.ndarray  # n x top feature indices, largest positive contribution first
    top_weight: np.ndarray


def score_arrays(
    x: np.ndarray,
    model: TrainedModel | None,
    *,
    rules: RuleSettings,
    bands: BandSettings,
    probation_days: int,
    top: int = 3,
    explain: Literal["all", "flagged", "none"] = "all",
) -> ScoreArrays:
    """The rules, the horizon risks, the bands, the contributions and the top factors of
    every row at once. LightGBM contributions (TreeSHAP) cost several times the risks:
    ``explain="flagged"`` computes them for the high band only (the alerts; anyone else's
    factors are computed when their score is read),
    ``"none"`` for nobody."""
    n, p = x.shape[0], len(FEATURES)
    fired, rule_names = rule_flags(x, rules)
    n_fired = fired.sum(axis=1) if fired.size else np.zeros(n, dtype=int)
    rules_band = np.where(
        n_fired >= rules.high_flags, "high", np.where(n_fired >= 1, "medium", "low")
    )
    risks: dict[int, np.ndarray] | None = None
    if model is not None and n:
        risks = horizon_risks(model, x, probation_days)
        p90 = risks[90]
        band = np.where(
            p90 >= bands.high_from, "high", np.where(p90 >= bands.medium_from, "medium", "low")
        )
        weights = np.zeros((n, p))
        rows = (
            np.arange(n)
            if explain == "all"
            else np.flatnonzero(band == "high")
            if explain == "flagged"
            else np.arange(0)
        )
        if len(rows):
            weights[rows] = model.contributions(x[rows])[:, :p]
    else:
        weights = np.zeros((n, p))
        for j, name in enumerate(rule_names):
            weights[:, FEATURES.index(RULE_FACTOR[name])] = fired[:, j]
        band = rules_band
    # Largest contributions first, ties by feature name (as core.advice.top_factors).
    rank = np.argsort(np.argsort(np.array(FEATURES)))
    order = np.lexsort((np.broadcast_to(rank, (n, p)), -weights), axis=1)[:, :top]
    return ScoreArrays(
        risks=risks,
        band=band,
        rules_band=rules_band,
        fired=fired,
        rule_names=rule_names,
        top_index=order,
        top_weight=np.take_along_axis(weights, order, axis=1),
    )


def records(ids: Sequence[str], x: np.ndarray, arrays: ScoreArrays) -> list[Score]:
    """One record per person (factors with labels, interventions, rules fired, features)."""
    values = np.where(np.isnan(x), np.nan, np.round(x, 4)).tolist()
    order_rows, w_rows = arrays.top_index.tolist(), np.round(arrays.top_weight, 4).tolist()
    fired_rows = arrays.fired.tolist()
    band_l, rules_band_l = arrays.band.tolist(), arrays.rules_band.tolist()
    risk_lists = {d: v.tolist() for d, v in arrays.risks.items()} if arrays.risks else {}
    advice_cache: dict[tuple[str, ...], list[dict[str, str]]] = {}
    out: list[Score] = []
    for i, eid in enumerate(ids):
        vr = values[i]
        factors = []
        for j, w in zip(order_rows[i], w_rows[i], strict=True):
            if w <= 0:
                break
            name = FEATURES[j]
            en, zh = FEATURE_LABELS[name]
            v = vr[j]
            factors.append(
                {
                    "feature": name,
                    "contribution": w,
                    "value": None if v != v else v,
                    "label_en": en,
                    "label_zh": zh,
                }
            )
        key = tuple(f["feature"] for f in factors)
        advice = advice_cache.get(key)
        if advice is None:
            advice = [{"kind": iv.kind, "en": iv.en, "zh": iv.zh} for iv in suggest(key)]
            advice_cache[key] = advice
        risk: dict[int, float | None] = (
            {d: risk_lists[d][i] for d in risk_lists}
            if risk_lists
            else {30: None, 60: None, 90: None}
        )
        out.append(
            Score(
                employee_id=eid,
                risk=risk,
                band=band_l[i],
                factors=factors,
                interventions=advice,
                rules_fired=[arrays.rule_names[j] for j, f in enumerate(fired_rows[i]) if f],
                rules_band=rules_band_l[i],
                features={FEATURES[j]: (None if v != v else v) for j, v in enumerate(vr)},
            )
        )
    return out


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
    explain: Literal["all", "flagged", "none"] = "all",
) -> list[Score]:
    """``score_arrays`` then ``records`` (``rows``: the snapshots, unused: the matrix is
    what is read)."""
    del rows
    arrays = score_arrays(
        x, model, rules=rules, bands=bands, probation_days=probation_days, top=top
    )
    return records(ids, x, arrays)
