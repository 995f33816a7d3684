"""The whole bootstrap-from-history path in one call, without the database writes:

    outcome = learn(dataset, name="talent.match.b2b_saas", intended_use="...",
                    config=TrainConfig(...), progress=cb, rules=scores)
    # or: learn_from_file(upload_bytes, filename, mapping, name=..., intended_use=...)
    version = await registry.add(session, name, outcome.model, metrics=outcome.metrics,
                                 card=outcome.card, training=outcome.training,
                                 status="candidate" if outcome.decision.activate else "rejected")
    if outcome.decision.activate:
        await registry.activate(session, name, version.version, by=principal.subject)

It imports (reporting rejected rows), refuses leaks, cross-validates LightGBM against the
logistic baseline (and the rules) on the same folds, picks the better of the two
(``champion``), applies the activation policy, computes the fairness report of the
champion's out-of-fold flags on the dataset's protected columns, and writes the model card.
CPU-bound: run it in a worker thread.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from zhanli_shared.ml.card import model_card
from zhanli_shared.ml.fairness import fairness_report, protected_groups
from zhanli_shared.ml.registry import Decision, activation_decision
from zhanli_shared.ml.tabular import ColumnMapping, Dataset, Limits, build_dataset, read_table
from zhanli_shared.ml.training import Progress, TrainConfig, TrainedModel, TrainResult, train


@dataclass
class LearnOutcome:
    dataset: Dataset
    result: TrainResult
    champion: Literal["model", "baseline"]
    model: TrainedModel  # the champion, ready to store
    decision: Decision
    fairness: dict[str, Any] | None
    card: dict[str, Any]

    @property
    def metrics(self) -> dict[str, Any]:
        return {**self.result.metrics, "champion": self.champion}

    @property
    def training(self) -> dict[str, Any]:
        """JSON-ready summary for the registry's ``training`` column."""
        report = self.dataset.report.to_dict() if self.dataset.report else None
        return {
            "import": report,
            **self.result.summary(),
            "champion": self.champion,
            "decision": self.decision.to_dict(),
        }


def learn(
    dataset: Dataset,
    *,
    name: str,
    intended_use: str,
    config: TrainConfig | None = None,
    progress: Progress | None = None,
    rules: np.ndarray | None = None,
    flag_fraction: float = 0.2,
    fairness_kind: Literal["selection", "flag"] = "flag",
    min_group_size: int = 30,
    as_of: dt.date | None = None,
    version: int | None = None,
    created_by: str | None = None,
    policy: dict[str, Any] | None = None,
) -> LearnOutcome:
    """Train, choose, judge, report. The fairness report flags the top ``flag_fraction`` of
    the champion's out-of-fold predictions (validated rows only) by protected group."""
    result = train(dataset, config, progress=progress, rules=rules)
    champion, model = result.champion()
    decision = activation_decision(result.metrics, candidate=champion, **(policy or {}))
    fairness = None
    if dataset.protected:
        oof = result.oof if champion == "model" else result.oof_baseline
        seen = ~np.isnan(oof)
        if seen.sum():
            cut = np.quantile(oof[seen], 1 - flag_fraction)
            groups = protected_groups(
                {k: [v[i] for i in np.flatnonzero(seen)] for k, v in dataset.protected.items()},
                as_of=as_of,
            )
            fairness = fairness_report(
                oof[seen] >= cut, groups, kind=fairness_kind, min_group_size=min_group_size
            )
    card = model_card(
        name=name,
        version=version,
        result=result,
        intended_use=intended_use,
        data=dataset.report.to_dict() if dataset.report else None,
        fairness=fairness,
        decision=decision,
        created_by=created_by,
        model=model,
    )
    card["champion"] = champion
    return LearnOutcome(dataset, result, champion, model, decision, fairness, card)


def learn_from_file(
    data: bytes,
    filename: str | None,
    mapping: ColumnMapping,
    *,
    name: str,
    intended_use: str,
    limits: Limits | None = None,
    **kwargs: Any,
) -> LearnOutcome:
    """``read_table`` + ``build_dataset`` + ``learn`` (keyword arguments as ``learn``)."""
    dataset = build_dataset(read_table(data, filename=filename), mapping, limits=limits)
    return learn(dataset, name=name, intended_use=intended_use, **kwargs)
