"""A model card per version (data, features, metrics, limits, intended use) as a dict and as
Markdown. ``model_card(name=..., version=..., result=train_result, data=report.to_dict(),
intended_use=..., fairness=fairness_report(...))`` -> dict; ``card_markdown(card)`` -> str.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zhanli_shared.ml.registry import Decision
    from zhanli_shared.ml.training import TrainedModel, TrainResult

LEGAL_LIMITS = (
    "The score is a recommendation to a person, never the sole basis of a decision about "
    "someone (PIPL Art. 24): the person concerned can ask for an explanation and for a human "
    "review.",
    "Employment models are high-risk under the EU AI Act (Annex III, 4): keep this card, the "
    "validation figures and the fairness report with every version.",
    "Protected attributes (gender, age, ethnicity, marital status, health...) and the proxies "
    "HR named are never features; they are used only for the fairness report.",
)


def model_card(
    *,
    name: str,
    version: int | None,
    result: TrainResult,
    intended_use: str,
    data: dict[str, Any] | None = None,
    fairness: dict[str, Any] | None = None,
    decision: Decision | None = None,
    limits: Sequence[str] = (),
    out_of_scope: Sequence[str] = (),
    created_by: str | None = None,
    model: TrainedModel | None = None,
) -> dict[str, Any]:
    """``model``: the version's model when it is not ``result.model`` (the baseline won)."""
    chosen = model or result.model
    metrics = result.metrics
    validation = result.validation
    auto_limits: list[str] = []
    positives = int(result.model.meta.get("positives", 0))
    rows = int(result.model.meta.get("rows", 0))
    if positives < 100:
        auto_limits.append(
            f"Few positive outcomes ({positives} of {rows} rows): the figures have wide "
            "uncertainty; retrain as outcomes accumulate."
        )
    if validation.get("scheme") == "stratified":
        auto_limits.append(
            "Validated by stratified cross-validation (rows drawn at random); performance on "
            "later cohorts can be lower if the workforce or the market changes."
        )
    else:
        auto_limits.append("Validated on later cohorts than those it learned from.")
    base = metrics.get("baseline") or {}
    mine = metrics.get("model") or {}
    if mine.get("roc_auc") is not None and base.get("roc_auc") is not None:
        if mine["roc_auc"] <= base["roc_auc"]:
            auto_limits.append(
                "LightGBM does not beat the logistic-regression baseline on validation."
            )
    if result.leakage_warnings:
        cols = ", ".join(w["column"] for w in result.leakage_warnings)
        auto_limits.append(f"Columns that separate the outcome suspiciously well: {cols}.")
    if fairness and fairness.get("flagged"):
        auto_limits.append("The fairness report flags a group under the four-fifths rule.")
    return {
        "name": name,
        "version": version,
        "kind": chosen.kind,
        "intended_use": intended_use,
        "out_of_scope": list(out_of_scope)
        or ["Automatic rejection, dismissal or pay decisions without a person's review."],
        "created_by": created_by,
        "data": data or {"rows": rows, "positives": positives},
        "features": chosen.spec.to_json(),
        "importance": chosen.importance()[:15],
        "training": {k: v for k, v in result.model.meta.items() if k != "params"},
        "validation": validation,
        "metrics": {
            "model": _headline(mine),
            "model_uncalibrated": _headline(metrics.get("model_uncalibrated") or {}),
            "baseline": _headline(base),
            "rules": _headline(metrics.get("rules") or {}) if metrics.get("rules") else None,
            "calibration": mine.get("calibration"),
        },
        "decision": decision.to_dict() if decision else None,
        "fairness": fairness,
        "limits": [*auto_limits, *limits, *LEGAL_LIMITS],
    }


def _headline(m: dict[str, Any]) -> dict[str, Any]:
    keys = ("n", "positives", "roc_auc", "pr_auc", "brier", "log_loss", "ece", "top_k")
    return {k: m.get(k) for k in keys if k in m}


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def card_markdown(card: dict[str, Any]) -> str:
    lines = [f"# Model card: {card['name']} v{card.get('version') or '-'}", ""]
    lines += [f"**Kind**: {card['kind']}  ", f"**Intended use**: {card['intended_use']}", ""]
    lines += ["## Out of scope", *[f"- {x}" for x in card["out_of_scope"]], ""]
    data = card.get("data") or {}
    lines += ["## Data"]
    for key in (
        "format",
        "encoding",
        "rows_read",
        "rows_accepted",
        "rows_rejected",
        "positives",
        "negatives",
        "rows",
    ):
        if key in data:
            lines.append(f"- {key.replace('_', ' ')}: {_fmt(data[key])}")
    lines += ["", "## Features"]
    shares = {i["feature"]: i["share"] for i in card.get("importance", [])}
    for feat in card["features"]:
        share = shares.get(feat["name"])
        extra = f" (importance {share:.1%})" if share else ""
        lines.append(f"- {feat['name']} ({feat['kind']}){extra}")
    validation = card.get("validation") or {}
    lines += [
        "",
        "## Validation",
        f"- scheme: {validation.get('scheme')}, folds: {validation.get('folds')}, "
        f"validated rows: {validation.get('validated_rows')}",
        "",
        "| | ROC-AUC | PR-AUC | Brier |",
        "|---|---|---|---|",
    ]
    for label in ("model", "model_uncalibrated", "baseline", "rules"):
        m = card["metrics"].get(label)
        if m:
            cells = [_fmt(m.get(k)) for k in ("roc_auc", "pr_auc", "brier")]
            lines.append(f"| {label} | {' | '.join(cells)} |")
    calibration = card["metrics"].get("calibration") or []
    if calibration:
        lines += [
            "",
            "Calibration (deciles of the prediction):",
            "",
            "| bin | n | predicted | observed |",
            "|---|---|---|---|",
        ]
        for row in calibration:
            predicted, observed = row["mean_predicted"], row["observed"]
            lines.append(f"| {row['bin']} | {row['n']} | {predicted:.3f} | {observed:.3f} |")
    if card.get("decision"):
        d = card["decision"]
        lines += [
            "",
            "## Activation",
            f"- activate: {d['activate']}",
            *[f"- {r}" for r in d["reasons"]],
        ]
    fairness = card.get("fairness")
    if fairness:
        lines += ["", f"## Fairness ({fairness['kind']} rates, four-fifths rule)"]
        for attr in fairness["attributes"]:
            lines += [
                "",
                f"**{attr['attribute']}** (reference: {attr['reference_group']})",
                "",
                "| group | n | rate | impact ratio | flag |",
                "|---|---|---|---|---|",
            ]
            for g in attr["groups"]:
                flag = (
                    "FLAG" if g["four_fifths_flag"] else ("unreliable" if not g["reliable"] else "")
                )
                ratio = _fmt(g["impact_ratio"])
                lines.append(f"| {g['group']} | {g['n']} | {g['rate']:.3f} | {ratio} | {flag} |")
    lines += ["", "## Limits", *[f"- {x}" for x in card["limits"]], ""]
    return "\n".join(lines)
