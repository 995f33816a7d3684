"""Retention figures (in-process; no platform needed):

- ``retention.score_100k_s``: score 100,000 people (30/60/90-day risk from 13 chained weekly
  hazards, LightGBM contributions, top factors, interventions, rules), against the rules
  alone on the same rows;
- ``retention.train_100k_s``: train on 100,000 rows x 30 features through the toolkit (later
  cohorts, 4 folds, LightGBM + logistic baseline on the same folds, Platt on out-of-fold,
  one thread), against the logistic regression alone;
- ``retention.auc`` / ``retention.rules_auc`` / ``retention.brier``: the hazard model on the
  demo generator's honest ground truth, validated on later hire cohorts, against the
  logistic baseline and the rules of the same run (Brier against the base rate's)."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

import numpy as np
from bench_common import Result

NAME = "retention"


def run(var: Path, pg_url: str | None) -> list[Result]:
    from zhanli_retention.core.advice import BandSettings
    from zhanli_retention.core.generator import generate
    from zhanli_retention.core.hazard import HazardSettings
    from zhanli_retention.core.rules import RuleSettings
    from zhanli_retention.modeling import pipeline
    from zhanli_shared.ml import synthetic
    from zhanli_shared.ml.tabular import Dataset
    from zhanli_shared.ml.training import LinearModel, train

    results: list[Result] = []
    until = dt.date(2026, 11, 30)
    people = generate(2500, seed=20261205, observed_until=until, months=18, max_weeks=40)
    t0 = time.perf_counter()
    prep = pipeline.prepare(
        [p.facts() for p in people],
        until,
        hazard=HazardSettings(),
        rules=RuleSettings(),
        minimums=pipeline.Minimums(),
    )
    prep_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fitted = pipeline.fit(prep)
    fit_s = time.perf_counter() - t0
    m, b, r = (fitted.metrics[k] for k in ("model", "baseline", "rules"))
    conc = fitted.metrics["concordance"]
    common = (
        f"{prep.people} people, {prep.exits} exits, {len(prep.hazard):,} person-weeks, "
        f"validated on later hire cohorts ({fitted.result.validation['folds']} forward folds, "
        f"{fitted.result.validation['validated_rows']:,} rows); chosen: {fitted.candidate}; "
        f"concordance model {conc['model']:.3f} / logistic {conc['baseline']:.3f} / rules "
        f"{conc['rules']:.3f}; prepare {prep_s:.1f} s, fit {fit_s:.1f} s"
    )
    auc_m = Result("retention.auc", m["roc_auc"], "ROC-AUC", True, notes=common)
    auc_b = Result("retention.auc_logistic", b["roc_auc"], "ROC-AUC", True)
    auc_r = Result("retention.rules_auc", r["roc_auc"], "ROC-AUC", True)
    results.append(auc_m.with_baseline(auc_b))
    results.append(auc_r.with_baseline(auc_m))
    results.append(
        Result(
            "retention.brier",
            m["brier"],
            "Brier",
            False,
            notes=f"ECE {m['ece']:.4f}; logistic Brier {b['brier']:.4f}; PR-AUC {m['pr_auc']:.3f} "
            f"(logistic {b['pr_auc']:.3f}, rules {r['pr_auc']:.3f})",
        ).with_baseline(Result("retention.brier_base_rate", m["brier_base_rate"], "Brier", False))
    )

    # Scoring 100,000 people with the model just trained.
    rng = np.random.default_rng(7)
    pick = rng.integers(0, len(prep.hazard), size=100_000)
    x = np.asarray(prep.hazard.x, dtype=np.float64)[pick]
    ids = [f"p{i}" for i in range(len(x))]
    kw = {"rules": RuleSettings(), "bands": BandSettings(), "probation_days": 180}
    t0 = time.perf_counter()
    pipeline.score_arrays(x, None, **kw)  # type: ignore[arg-type]
    rules_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    arrays = pipeline.score_arrays(x, fitted.chosen, explain="none", **kw)  # type: ignore[arg-type]
    score_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    flagged = pipeline.score_arrays(x, fitted.chosen, explain="flagged", **kw)  # type: ignore[arg-type]
    flagged_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    pipeline.records(ids, x, flagged)
    records_s = time.perf_counter() - t0
    high = int((arrays.band == "high").sum())
    explained = high
    results.append(
        Result(
            "retention.score_100k_s",
            score_s,
            "s",
            False,
            notes=f"{fitted.chosen.kind}: calibrated 30/60/90-day risks (hazard at 5 tenure "
            f"points, interpolated, chained), bands, rules; {high:,} in the high band. "
            f"With LightGBM contributions and top factors for the {explained:,} high-band "
            f"rows (what the refresh does): {flagged_s:.2f} s; building the per-person JSON "
            f"records {records_s:.2f} s more; DB writes not included; load average "
            f"{os.getloadavg()[0]:.1f}",
        ).with_baseline(Result("retention.score_100k_rules_s", rules_s, "s", False))
    )

    # Training on 100,000 rows x 30 features.
    spec, X, y = synthetic.wide_arrays(100_000, 30, seed=3)
    cohort = np.sort(rng.integers(0, 12, size=len(y))).astype(np.float64)
    ds = Dataset.from_arrays(spec, X, y, time=cohort)
    config = pipeline.config_for(len(y), int(y.sum()))
    t0 = time.perf_counter()
    res = train(ds, config)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    LinearModel.fit(spec, X, y.astype(np.int64))
    lr_s = time.perf_counter() - t0
    results.append(
        Result(
            "retention.train_100k_s",
            train_s,
            "s",
            False,
            notes=f"{res.validation['folds']} later-cohort folds, {res.validation['rounds']} trees, "
            f"one thread, load average {os.getloadavg()[0]:.1f}; ROC-AUC {res.metrics['model']['roc_auc']:.3f} vs logistic "
            f"{res.metrics['baseline']['roc_auc']:.3f}",
        ).with_baseline(Result("retention.train_100k_logistic_s", lr_s, "s", False))
    )
    return results
