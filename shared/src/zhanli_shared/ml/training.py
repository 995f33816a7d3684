"""Deterministic training and validation: LightGBM against a logistic-regression baseline.

``train(dataset, TrainConfig(...), progress=cb, rules=scores)`` -> :class:`TrainResult`:

- validation folds: ``"stratified"`` k-fold (grouped when ``dataset.groups`` is set, so one
  person's rows never straddle folds) or ``"later"``: forward chaining on ``dataset.time``
  (train on earlier cohorts, validate on the next later ones; never a random split);
- LightGBM (fixed seed, fixed threads, ``deterministic=True``, small-data settings, optional
  monotone constraints by feature name); the number of trees is chosen on the folds' mean
  validation log-loss; no class reweighting;
- the logistic-regression baseline (median-imputed, standardised numbers + one-hot
  categories) on the SAME folds, and the caller's ``rules`` scores on the same rows;
- Platt (sigmoid) calibration fitted on out-of-fold predictions (the reported calibrated
  out-of-fold figures are cross-fitted: each fold's calibrator never saw that fold);
- metrics (``evaluate``): ROC-AUC, PR-AUC, Brier, log-loss, calibration table by decile,
  precision/recall at top-k fractions.

The final models (``result.model``, ``result.baseline``) are trained on every row and are
:class:`TrainedModel`: ``predict_proba(X)``, ``explain(X, top=3)`` (reasons up and down from
LightGBM ``pred_contrib`` / the baseline's coefficient terms), ``to_json()`` /
``TrainedModel.from_json()`` (text, no pickle). CPU-bound: call it from a worker thread
(``await asyncio.to_thread(train, ...)``) in a service.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from zhanli_shared.errors import Unprocessable
from zhanli_shared.ml.tabular import Dataset, FeatureSpec

Progress = Callable[[float, str], None]
FORMAT = "zhanli-ml/1"


def _noop(fraction: float, message: str) -> None:
    return None


SMALL_DATA: dict[str, Any] = {
    "max_rounds": 800,
    "learning_rate": 0.05,
    "num_leaves": 7,
    "max_depth": 3,
    "min_data_in_leaf": 30,
    "lambda_l2": 10.0,
    "feature_fraction": 0.7,
}
LARGE_DATA: dict[str, Any] = {
    "max_rounds": 200,
    "learning_rate": 0.1,
    "num_leaves": 15,
    "max_depth": 6,
    "min_data_in_leaf": 20,
    "lambda_l2": 5.0,
    "feature_fraction": 0.8,
}


@dataclass(frozen=True)
class TrainConfig:
    validation: Literal["stratified", "later"] = "stratified"
    folds: int = 5
    # From this many rows on, at most ``large_folds`` folds (100k rows x 30 features trains
    # in well under a minute on one core).
    large_rows: int = 20_000
    large_folds: int = 3
    seed: int = 20261205
    num_threads: int = 1
    # Tree settings: None takes the profile's value. "small" (below ``large_rows`` rows, the
    # usual HR history): shallow, slow, strongly regularised trees; "large": deeper, faster.
    profile: Literal["auto", "small", "large"] = "auto"
    max_rounds: int | None = None
    min_rounds: int = 10
    early_stopping_rounds: int = 30
    learning_rate: float | None = None
    num_leaves: int | None = None
    max_depth: int | None = None
    min_data_in_leaf: int | None = None
    lambda_l2: float | None = None
    feature_fraction: float | None = None
    bagging_fraction: float = 0.8
    max_bin: int = 63
    monotone: Mapping[str, int] = field(default_factory=dict)
    calibration: Literal["sigmoid", "none"] = "sigmoid"
    top_k: tuple[float, ...] = (0.05, 0.1, 0.2)
    calibration_bins: int = 10
    check_leakage: bool = True
    leakage_auc: float = 0.97
    leakage_sample: int = 20_000
    baseline_c: float = 1.0

    def tree_settings(self, rows: int) -> dict[str, Any]:
        """The profile's tree settings for ``rows`` rows, with this config's overrides."""
        profile = self.profile
        if profile == "auto":
            profile = "small" if rows < self.large_rows else "large"
        base = dict(SMALL_DATA if profile == "small" else LARGE_DATA)
        for key in base:
            value = getattr(self, key)
            if value is not None:
                base[key] = value
        base["profile"] = profile
        return base

    def lgb_params(self, spec: FeatureSpec, rows: int = 0) -> dict[str, Any]:
        trees = self.tree_settings(rows)
        params: dict[str, Any] = {
            "objective": "binary",
            "learning_rate": trees["learning_rate"],
            "num_leaves": trees["num_leaves"],
            "max_depth": trees["max_depth"],
            "min_data_in_leaf": trees["min_data_in_leaf"],
            "min_sum_hessian_in_leaf": 1e-3,
            "lambda_l2": trees["lambda_l2"],
            "feature_fraction": trees["feature_fraction"],
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1 if self.bagging_fraction < 1 else 0,
            "max_bin": self.max_bin,
            "min_data_per_group": 20,
            "cat_smooth": 10.0,
            "cat_l2": 10.0,
            "max_cat_to_onehot": 4,
            "seed": self.seed,
            "deterministic": True,
            "force_col_wise": True,
            "num_threads": self.num_threads,
            "verbosity": -1,
        }
        if self.monotone:
            names = spec.names
            unknown = [n for n in self.monotone if n not in names]
            if unknown:
                raise Unprocessable(
                    f"monotone constraints name unknown features: {', '.join(unknown)}",
                    field="monotone",
                )
            for name, sign in self.monotone.items():
                if sign not in (-1, 0, 1):
                    raise Unprocessable(f"monotone {name!r} must be -1, 0 or 1", field="monotone")
                if spec.features[names.index(name)].kind == "categorical" and sign:
                    raise Unprocessable(
                        f"{name!r} is categorical: no monotone constraint", field="monotone"
                    )
            params["monotone_constraints"] = [int(self.monotone.get(n, 0)) for n in names]
            params["monotone_constraints_method"] = "advanced"
        return params


# ------------------------------------------------------------------------------- metrics


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def evaluate(
    y: np.ndarray,
    p: np.ndarray,
    *,
    top_k: Sequence[float] = (0.05, 0.1, 0.2),
    bins: int = 10,
    probabilities: bool = True,
) -> dict[str, Any]:
    """ROC-AUC, PR-AUC, Brier, log-loss, a calibration table (deciles of the prediction),
    precision and recall at the top fractions. ``probabilities=False`` for scores that are
    not probabilities (rules): ranking figures only."""
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

    y = np.asarray(y).astype(np.int64)
    p = np.asarray(p, dtype=np.float64)
    n, positives = len(y), int(y.sum())
    out: dict[str, Any] = {"n": n, "positives": positives, "base_rate": positives / max(1, n)}
    if n == 0 or positives in (0, n):
        out["roc_auc"] = None
        out["pr_auc"] = None
        return out
    out["roc_auc"] = float(roc_auc_score(y, p))
    out["pr_auc"] = float(average_precision_score(y, p))
    order = np.argsort(-p, kind="stable")
    top: list[dict[str, Any]] = []
    for fraction in top_k:
        k = max(1, round(fraction * n))
        hits = int(y[order[:k]].sum())
        top.append(
            {"fraction": fraction, "k": k, "precision": hits / k, "recall": hits / positives}
        )
    out["top_k"] = top
    if probabilities:
        out["brier"] = float(brier_score_loss(y, p))
        out["brier_base_rate"] = float(out["base_rate"] * (1 - out["base_rate"]))
        out["log_loss"] = float(log_loss(y, np.clip(p, 1e-9, 1 - 1e-9)))
        table = []
        edges = np.quantile(p, np.linspace(0, 1, bins + 1))
        index = np.clip(np.searchsorted(edges[1:-1], p, side="right"), 0, bins - 1)
        ece = 0.0
        for b in range(bins):
            mask = index == b
            count = int(mask.sum())
            if not count:
                continue
            mean_p, observed = float(p[mask].mean()), float(y[mask].mean())
            ece += count / n * abs(mean_p - observed)
            table.append(
                {
                    "bin": b + 1,
                    "n": count,
                    "mean_predicted": round(mean_p, 5),
                    "observed": round(observed, 5),
                }
            )
        out["calibration"] = table
        out["ece"] = ece
    return out


def concordance_index(time: np.ndarray, event: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's C: among comparable pairs (the one with the earlier observed time had the
    event), the share where that one had the higher risk (ties count half). O(n log n)."""
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event).astype(bool)
    risk = np.asarray(risk, dtype=np.float64)
    ranks = np.unique(risk, return_inverse=True)[1]
    size = int(ranks.max()) + 2 if len(ranks) else 1
    tree = np.zeros(size + 1, dtype=np.int64)

    def add(i: int) -> None:
        i += 1
        while i <= size:
            tree[i] += 1
            i += i & -i

    def count_le(i: int) -> int:
        i += 1
        total = 0
        while i > 0:
            total += int(tree[i])
            i -= i & -i
        return total

    order = np.argsort(-time, kind="stable")
    concordant = 0.0
    comparable = 0
    inserted = 0
    k = 0
    n = len(time)
    while k < n:
        # Everyone with a later time than the current block is in the tree.
        block = [order[k]]
        while k + len(block) < n and time[order[k + len(block)]] == time[order[k]]:
            block.append(order[k + len(block)])
        for i in block:
            if event[i] and inserted:
                r = int(ranks[i])
                lower = count_le(r - 1) if r > 0 else 0
                equal = count_le(r) - lower
                concordant += lower + 0.5 * equal
                comparable += inserted
        for i in block:
            add(int(ranks[i]))
            inserted += 1
        k += len(block)
    return concordant / comparable if comparable else float("nan")


# ---------------------------------------------------------------------- the two model kinds


class LinearModel:
    """Logistic regression on median-imputed, standardised numbers (+ a missing flag) and
    one-hot categories (missing is a category; unseen ones are all zeros)."""

    def __init__(self, spec: FeatureSpec, params: dict[str, Any]) -> None:
        self.spec = spec
        self.params = params  # medians, means, scales, missing flags, categories, coef, bias

    @classmethod
    def fit(cls, spec: FeatureSpec, X: np.ndarray, y: np.ndarray, *, c: float = 1.0) -> LinearModel:
        from sklearn.linear_model import LogisticRegression

        columns: list[dict[str, Any]] = []
        for j, feat in enumerate(spec.features):
            col = X[:, j]
            missing = np.isnan(col)
            if feat.kind == "numeric":
                finite = col[~missing]
                median = float(np.median(finite)) if finite.size else 0.0
                filled = np.where(missing, median, col)
                std = float(filled.std())
                columns.append(
                    {
                        "median": median,
                        "mean": float(filled.mean()),
                        "scale": std if std > 0 else 1.0,
                        "flag": bool(missing.any()),
                    }
                )
            else:
                codes = sorted({int(v) for v in col[~missing]})
                columns.append({"codes": codes, "flag": bool(missing.any())})
        model = cls(spec, {"columns": columns})
        Z = model._design(X)
        lr = LogisticRegression(C=c, max_iter=1000, tol=1e-5)
        lr.fit(Z, y)
        model.params["coef"] = [float(v) for v in lr.coef_[0]]
        model.params["bias"] = float(lr.intercept_[0])
        # Contributions are measured from the average training row (as LightGBM's are
        # from its expected value), so a common category is not a "reason".
        model.params["design_mean"] = [float(v) for v in Z.mean(axis=0)]
        return model

    def _blocks(self) -> list[int]:
        sizes = []
        for feat, col in zip(self.spec.features, self.params["columns"], strict=True):
            if feat.kind == "numeric":
                sizes.append(1 + int(col["flag"]))
            else:
                sizes.append(len(col["codes"]) + int(col["flag"]))
        return sizes

    def _design(self, X: np.ndarray) -> np.ndarray:
        parts: list[np.ndarray] = []
        for j, (feat, col) in enumerate(
            zip(self.spec.features, self.params["columns"], strict=True)
        ):
            values = X[:, j]
            missing = np.isnan(values)
            if feat.kind == "numeric":
                filled = np.where(missing, col["median"], values)
                parts.append(((filled - col["mean"]) / col["scale"])[:, None])
            else:
                codes = np.asarray(col["codes"], dtype=np.float64)
                parts.append((values[:, None] == codes[None, :]).astype(np.float64))
            if col["flag"]:
                parts.append(missing.astype(np.float64)[:, None])
        return np.hstack(parts) if parts else np.zeros((X.shape[0], 0))

    def raw(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self._design(X) @ np.asarray(self.params["coef"]) + self.params["bias"])

    def contributions(self, X: np.ndarray) -> np.ndarray:
        Z = self._design(X)
        if "design_mean" in self.params:
            Z = Z - np.asarray(self.params["design_mean"])[None, :]
        terms = Z * np.asarray(self.params["coef"])[None, :]
        out = np.zeros((X.shape[0], len(self.spec.features)))
        start = 0
        for j, size in enumerate(self._blocks()):
            out[:, j] = terms[:, start : start + size].sum(axis=1)
            start += size
        return out


class BoostedModel:
    def __init__(self, spec: FeatureSpec, booster: Any, rounds: int) -> None:
        self.spec = spec
        self.booster = booster
        self.rounds = rounds

    def raw(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.booster.predict(X, num_iteration=self.rounds, raw_score=True))

    def contributions(self, X: np.ndarray) -> np.ndarray:
        out = self.booster.predict(X, num_iteration=self.rounds, pred_contrib=True)
        return np.asarray(out)[:, :-1]


# --------------------------------------------------------------------------- trained model


@dataclass(frozen=True)
class Reason:
    feature: str
    value: str | float | None
    contribution: float  # log-odds

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "value": self.value,
            "contribution": round(self.contribution, 4),
        }


@dataclass(frozen=True)
class Explanation:
    probability: float
    up: list[Reason]
    down: list[Reason]

    def to_dict(self) -> dict[str, Any]:
        return {
            "probability": self.probability,
            "up": [r.to_dict() for r in self.up],
            "down": [r.to_dict() for r in self.down],
        }


class TrainedModel:
    """A model ready to score: ``kind`` "lightgbm" or "logistic", its FeatureSpec and a
    Platt calibrator (``p = sigmoid(a * raw + b)``; a=1, b=0 is none)."""

    def __init__(
        self,
        kind: Literal["lightgbm", "logistic"],
        spec: FeatureSpec,
        inner: LinearModel | BoostedModel,
        calibrator: tuple[float, float] = (1.0, 0.0),
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.kind = kind
        self.spec = spec
        self.inner = inner
        self.calibrator = calibrator
        self.meta = meta or {}

    def raw(self, X: np.ndarray) -> np.ndarray:
        return self.inner.raw(np.asarray(X, dtype=np.float64))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        a, b = self.calibrator
        return _sigmoid(a * self.raw(X) + b)

    def score_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return self.predict_proba(self.spec.encode(records))

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per-row, per-feature contributions to the raw (log-odds) score, in calibrated
        units (times the calibrator's slope)."""
        return self.inner.contributions(np.asarray(X, dtype=np.float64)) * self.calibrator[0]

    def explain(self, X: np.ndarray, *, top: int = 3, min_abs: float = 0.01) -> list[Explanation]:
        X = np.asarray(X, dtype=np.float64)
        probabilities = self.predict_proba(X)
        contrib = self.contributions(X)
        out: list[Explanation] = []
        for i in range(X.shape[0]):
            row = contrib[i]
            order = np.argsort(-row, kind="stable")
            up = [
                Reason(self.spec.names[j], self.spec.display(j, X[i, j]), float(row[j]))
                for j in order[:top]
                if row[j] > min_abs
            ]
            down = [
                Reason(self.spec.names[j], self.spec.display(j, X[i, j]), float(row[j]))
                for j in order[::-1][:top]
                if row[j] < -min_abs
            ]
            out.append(Explanation(float(probabilities[i]), up, down))
        return out

    def importance(self) -> list[dict[str, Any]]:
        if isinstance(self.inner, BoostedModel):
            gains = self.inner.booster.feature_importance(
                importance_type="gain", iteration=self.inner.rounds
            )
            total = float(sum(gains)) or 1.0
            pairs = [(n, float(g) / total) for n, g in zip(self.spec.names, gains, strict=True)]
        else:
            coef = np.abs(np.asarray(self.inner.params["coef"]))
            sizes = self.inner._blocks()
            values, start = [], 0
            for size in sizes:
                values.append(float(coef[start : start + size].sum()))
                start += size
            total = sum(values) or 1.0
            pairs = [(n, v / total) for n, v in zip(self.spec.names, values, strict=True)]
        pairs.sort(key=lambda p: -p[1])
        return [{"feature": n, "share": round(v, 4)} for n, v in pairs]

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "format": FORMAT,
            "kind": self.kind,
            "features": self.spec.to_json(),
            "calibrator": {"a": self.calibrator[0], "b": self.calibrator[1]},
            "meta": self.meta,
        }
        if isinstance(self.inner, BoostedModel):
            body["rounds"] = self.inner.rounds
            body["booster"] = self.inner.booster.model_to_string(num_iteration=self.inner.rounds)
        else:
            body["linear"] = self.inner.params
        return body

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> TrainedModel:
        if body.get("format") != FORMAT:
            raise ValueError(f"unknown model format {body.get('format')!r}")
        spec = FeatureSpec.from_json(body["features"])
        calibrator = (float(body["calibrator"]["a"]), float(body["calibrator"]["b"]))
        inner: LinearModel | BoostedModel
        if body["kind"] == "lightgbm":
            import lightgbm as lgb

            booster = lgb.Booster(model_str=body["booster"])
            inner = BoostedModel(spec, booster, int(body["rounds"]))
        elif body["kind"] == "logistic":
            inner = LinearModel(spec, dict(body["linear"]))
        else:
            raise ValueError(f"unknown model kind {body['kind']!r}")
        return cls(body["kind"], spec, inner, calibrator, dict(body.get("meta", {})))


# ------------------------------------------------------------------------------- training


@dataclass
class TrainResult:
    model: TrainedModel
    baseline: TrainedModel
    metrics: dict[str, Any]  # "model", "model_uncalibrated", "baseline", "rules"
    validation: dict[str, Any]
    oof: np.ndarray  # calibrated, cross-fitted; NaN where a row was never validated
    oof_baseline: np.ndarray
    leakage_warnings: list[dict[str, Any]] = field(default_factory=list)

    def champion(self) -> tuple[Literal["model", "baseline"], TrainedModel]:
        """The better of LightGBM and the logistic baseline on validation (ROC-AUC, then
        Brier): ("model", result.model) or ("baseline", result.baseline). On small, mostly
        linear data the baseline often wins; judge the winner with
        ``activation_decision(metrics, candidate=key)``."""
        mine, base = self.metrics["model"], self.metrics["baseline"]
        if (base.get("roc_auc") or 0) > (mine.get("roc_auc") or 0):
            return "baseline", self.baseline
        return "model", self.model

    def summary(self) -> dict[str, Any]:
        """JSON-ready: metrics, validation scheme, importances (for the registry / card)."""
        return {
            "metrics": self.metrics,
            "validation": self.validation,
            "importance": self.model.importance(),
            "baseline_importance": self.baseline.importance(),
            "leakage_warnings": self.leakage_warnings,
        }


def make_folds(dataset: Dataset, config: TrainConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train rows, validation rows) per fold."""
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    y, n = dataset.y, dataset.n
    if config.validation == "later":
        if dataset.time is None or np.isnan(dataset.time).any():
            raise Unprocessable(
                "validation on later cohorts needs a time (cohort or hire date) on every row",
                field="mapping.time",
            )
        times = np.unique(dataset.time)
        if len(times) < 2:
            raise Unprocessable(
                "validation on later cohorts needs at least two different cohorts",
                field="mapping.time",
            )
        wanted = config.folds if n < config.large_rows else min(config.folds, config.large_folds)
        chunks = min(wanted + 1, len(times))
        # Cut the cohorts into contiguous chunks of about equal row counts.
        counts = np.array([np.sum(dataset.time == t) for t in times]) if len(times) < 5000 else None
        if counts is None:
            sorted_time = np.sort(dataset.time)
            cuts = [sorted_time[int(n * k / chunks)] for k in range(1, chunks)]
        else:
            cum = np.cumsum(counts) / n
            cuts = []
            for k in range(1, chunks):
                index = int(np.searchsorted(cum, k / chunks))
                cuts.append(times[min(index + 1, len(times) - 1)])
        edges = sorted(set(cuts))
        chunk_of = np.searchsorted(np.asarray(edges), dataset.time, side="right")
        folds = []
        for k in range(1, int(chunk_of.max()) + 1):
            train = np.flatnonzero(chunk_of < k)
            valid = np.flatnonzero(chunk_of == k)
            if (
                len(valid)
                and len(train)
                and 0 < y[valid].sum() < len(valid)
                and 0 < y[train].sum() < len(train)
            ):
                folds.append((train, valid))
        if not folds:
            raise Unprocessable(
                "no later cohort has both outcomes to validate on", field="mapping.time"
            )
        return folds
    minority = int(min(y.sum(), n - y.sum()))
    if minority < 2:
        raise Unprocessable(
            f"{minority} row(s) of the rarer outcome: at least 2 are needed to validate",
            field="mapping.label",
        )
    wanted = config.folds if n < config.large_rows else min(config.folds, config.large_folds)
    k = max(2, min(wanted, minority))
    if dataset.groups is not None:
        k = min(k, len(np.unique(dataset.groups)))
        if k < 2:
            raise Unprocessable("validation needs at least two groups", field="mapping.group")
        splitter: Any = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=config.seed)
        return [(tr, va) for tr, va in splitter.split(dataset.X, y, dataset.groups)]
    splitter = StratifiedKFold(n_splits=k, shuffle=True, random_state=config.seed)
    return [(tr, va) for tr, va in splitter.split(dataset.X, y)]


def _tree_progress(
    report: Progress, fold: int, folds: int, steps: int, max_rounds: int
) -> Callable[[Any], None]:
    """A LightGBM callback reporting progress inside a fold every 50 trees."""

    def callback(env: Any) -> None:
        done = env.iteration + 1
        if done % 50 == 0 and done < max_rounds:
            within = done / max_rounds
            report(
                0.05 + 0.8 * (fold + within) / steps,
                f"LightGBM fold {fold + 1} of {folds}: {done} trees",
            )

    return callback


def _sample(dataset: Dataset, limit: int, seed: int) -> Dataset:
    """At most ``limit`` rows drawn at random (fixed seed), for checks whose figures do not
    need every row."""
    if dataset.n <= limit:
        return dataset
    rows = np.sort(np.random.default_rng(seed).choice(dataset.n, size=limit, replace=False))
    return Dataset(
        spec=dataset.spec,
        X=dataset.X[rows],
        y=dataset.y[rows],
        row_numbers=dataset.row_numbers[rows],
    )


def fit_platt(raw: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Sigmoid calibration ``p = sigmoid(a * raw + b)`` fitted by maximum likelihood."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(y)) < 2:
        return 1.0, 0.0
    lr = LogisticRegression(C=1e6, max_iter=1000, tol=1e-8)
    lr.fit(raw.reshape(-1, 1), y)
    return float(lr.coef_[0][0]), float(lr.intercept_[0])


def train(
    dataset: Dataset,
    config: TrainConfig | None = None,
    *,
    progress: Progress | None = None,
    rules: np.ndarray | None = None,
) -> TrainResult:
    """Cross-validate LightGBM and the baseline on the same folds, then fit both on every
    row. ``rules``: the rules' scores for the same rows (higher = more likely positive),
    evaluated on the same validation rows."""
    from threadpoolctl import threadpool_limits

    config = config or TrainConfig()
    # BLAS threads too: fixed, so the baseline is reproducible and does not fight the
    # service's other work.
    with threadpool_limits(limits=config.num_threads):
        return _train(dataset, config, progress, rules)


def _train(
    dataset: Dataset,
    config: TrainConfig,
    progress: Progress | None,
    rules: np.ndarray | None,
) -> TrainResult:
    import lightgbm as lgb

    report = progress or _noop
    spec, X, y = dataset.spec, dataset.X, dataset.y.astype(np.int64)
    leakage_warnings: list[dict[str, Any]] = []
    if config.check_leakage:
        from zhanli_shared.ml.leakage import data_leaks, refuse_data_leaks

        report(0.0, "checking columns for leakage")
        sample = _sample(dataset, config.leakage_sample, config.seed)
        findings = data_leaks(sample, threshold=min(0.9, config.leakage_auc))
        refuse_data_leaks(sample, threshold=config.leakage_auc, findings=findings)
        leakage_warnings = [f.to_dict() for f in findings]
    params = config.lgb_params(spec, len(y))
    max_rounds = int(config.tree_settings(len(y))["max_rounds"])
    folds = make_folds(dataset, config)
    report(0.05, f"{len(folds)} validation folds")
    full = lgb.Dataset(
        X,
        label=y,
        feature_name=[f"f{j}" for j in range(X.shape[1])],
        categorical_feature=spec.categorical_indices or "auto",
        free_raw_data=False,
        params={"max_bin": config.max_bin, "verbosity": -1, "min_data_in_bin": 3},
    )
    full.construct()
    boosters: list[Any] = []
    curves: list[list[float]] = []
    steps = len(folds) * 2 + 2
    for k, (tr, va) in enumerate(folds):
        train_set = full.subset(tr.tolist())
        valid_set = full.subset(va.tolist())
        evals: dict[str, Any] = {}
        booster = lgb.train(
            params,
            train_set,
            num_boost_round=max_rounds,
            valid_sets=[valid_set],
            valid_names=["valid"],
            callbacks=[
                lgb.record_evaluation(evals),
                lgb.early_stopping(config.early_stopping_rounds, verbose=False),
                _tree_progress(report, k, len(folds), steps, max_rounds),
            ],
        )
        boosters.append(booster)
        curves.append(list(evals["valid"]["binary_logloss"]))
        report(0.05 + 0.8 * (k + 1) / steps, f"LightGBM fold {k + 1} of {len(folds)}")
    # Folds stop early at different rounds: the common prefix of their validation curves.
    common = min(len(c) for c in curves)
    mean_curve = np.mean(np.asarray([c[:common] for c in curves]), axis=0)
    rounds = int(np.argmin(mean_curve[config.min_rounds - 1 :])) + config.min_rounds
    valid_mask = np.zeros(len(y), dtype=bool)
    oof_raw = np.full(len(y), np.nan)
    oof_base = np.full(len(y), np.nan)
    fold_of = np.full(len(y), -1)
    for k, (tr, va) in enumerate(folds):
        oof_raw[va] = boosters[k].predict(X[va], num_iteration=rounds, raw_score=True)
        base = LinearModel.fit(spec, X[tr], y[tr], c=config.baseline_c)
        oof_base[va] = _sigmoid(base.raw(X[va]))
        valid_mask[va] = True
        fold_of[va] = k
        report(0.05 + 0.8 * (len(folds) + k + 1) / steps, f"baseline fold {k + 1} of {len(folds)}")
    # Calibrated out-of-fold predictions, cross-fitted.
    oof = np.full(len(y), np.nan)
    if config.calibration == "sigmoid":
        for k in range(len(folds)):
            mine = fold_of == k
            others = valid_mask & ~mine
            if others.sum() >= 20 and len(np.unique(y[others])) == 2:
                a, b = fit_platt(oof_raw[others], y[others])
            else:
                a, b = fit_platt(oof_raw[valid_mask], y[valid_mask])
            oof[mine] = _sigmoid(a * oof_raw[mine] + b)
        calibrator = fit_platt(oof_raw[valid_mask], y[valid_mask])
    else:
        oof[valid_mask] = _sigmoid(oof_raw[valid_mask])
        calibrator = (1.0, 0.0)
    yv = y[valid_mask]
    top_k, bins = config.top_k, config.calibration_bins
    metrics: dict[str, Any] = {
        "model": evaluate(yv, oof[valid_mask], top_k=top_k, bins=bins),
        "model_uncalibrated": evaluate(yv, _sigmoid(oof_raw[valid_mask]), top_k=top_k, bins=bins),
        "baseline": evaluate(yv, oof_base[valid_mask], top_k=top_k, bins=bins),
        "rules": None,
    }
    if rules is not None:
        scores = np.asarray(rules, dtype=np.float64)
        if len(scores) != len(y):
            raise ValueError(f"{len(scores)} rule scores for {len(y)} rows")
        if np.isnan(scores).any():  # a rule that could not be evaluated ranks lowest
            low = np.nanmin(scores) if (~np.isnan(scores)).any() else 0.0
            scores = np.where(np.isnan(scores), min(low, 0.0), scores)
        probabilities = bool(np.all((scores >= 0) & (scores <= 1)))
        metrics["rules"] = evaluate(
            yv, scores[valid_mask], probabilities=probabilities, top_k=top_k, bins=bins
        )
    report(0.9, f"final models on {len(y):,} rows ({rounds} trees)")
    final = lgb.train(params, full, num_boost_round=rounds)
    meta = {
        "rows": len(y),
        "positives": int(y.sum()),
        "rounds": rounds,
        "params": {k: v for k, v in params.items() if k != "num_threads"},
    }
    model = TrainedModel("lightgbm", spec, BoostedModel(spec, final, rounds), calibrator, meta)
    base_full = LinearModel.fit(spec, X, y, c=config.baseline_c)
    baseline = TrainedModel(
        "logistic", spec, base_full, (1.0, 0.0), {"rows": len(y), "c": config.baseline_c}
    )
    validation = {
        "scheme": config.validation,
        "grouped": dataset.groups is not None,
        "folds": len(folds),
        "validated_rows": int(valid_mask.sum()),
        "rows": len(y),
        "rounds": rounds,
        "seed": config.seed,
        "calibration": config.calibration,
        "profile": config.tree_settings(len(y))["profile"],
    }
    report(1.0, "done")
    return TrainResult(
        model=model,
        baseline=baseline,
        metrics=metrics,
        validation=validation,
        oof=oof,
        oof_baseline=oof_base,
        leakage_warnings=leakage_warnings,
    )


def risk_band(probability: float, bands: Mapping[str, float]) -> str:
    """The band whose lower bound is the highest one at or below ``probability``, e.g.
    ``{"low": 0.0, "medium": 0.3, "high": 0.6}``."""
    best, bound = "", -math.inf
    for name, lower in bands.items():
        if lower <= probability and lower > bound:
            best, bound = name, lower
    return best
