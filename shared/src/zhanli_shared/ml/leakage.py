"""Columns that must never be features: ones that leak the outcome, and protected attributes.

- ``leak_reason(name)``: the column's name says it describes the outcome (an exit reason, a
  termination / 离职 date, a time-to-exit, an employment status, a probation result...).
- ``protected_reason(name)``: gender/性别, age/年龄, birth date, ethnicity/民族, marital
  status/婚姻, pregnancy, health, religion, hukou/籍贯... (PIPL sensitive data, equal
  employment law). These belong under ``mapping.protected`` (the fairness report), never in
  the features; columns HR names as proxies (``mapping.proxies``) are refused the same way.
- ``check_feature_names(mapping)`` raises ``Unprocessable`` naming every offending column.
- ``data_leaks(dataset)``: columns that separate the outcome almost perfectly on their own
  (a univariate ROC-AUC of ``threshold`` or more, categories encoded out of fold), or that
  are filled in almost only for one outcome (populated only for leavers).
  ``refuse_data_leaks(dataset)`` raises ``Unprocessable`` when there is one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zhanli_shared.errors import Unprocessable

if TYPE_CHECKING:
    import numpy as np

    from zhanli_shared.ml.tabular import ColumnMapping, Dataset

_LEAK_WORDS = {
    "attrition": "attrition",
    "attrited": "attrition",
    "churn": "churn",
    "churned": "churn",
    "turnover": "turnover",
    "terminated": "termination",
    "termination": "termination",
    "terminate": "termination",
    "separation": "separation",
    "separated": "separation",
    "resignation": "resignation",
    "resigned": "resignation",
    "resign": "resignation",
    "exit": "exit",
    "exited": "exit",
    "exits": "exit",
    "left": "left",
    "quit": "quit",
    "departure": "departure",
    "departed": "departure",
    "offboarding": "offboarding",
    "dismissal": "dismissal",
    "dismissed": "dismissal",
    "fired": "dismissal",
    "lwd": "last working day",
    "retained": "retention outcome",
    "reason": "a reason (exit reason?)",
    "status": "a status (employment status?)",
}
_LEAK_PHRASES = (
    (("last", "working", "day"), "last working day"),
    (("last", "day"), "last day"),
    (("notice", "date"), "notice date"),
    (("notice", "period"), "notice period"),
    (("leave", "date"), "leave date"),
    (("leave", "reason"), "leave reason"),
    (("leaving", "date"), "leaving date"),
    (("leaving", "reason"), "leaving reason"),
    (("end", "date"), "end date"),
    (("probation", "result"), "probation result"),
    (("probation", "passed"), "probation result"),
    (("passed", "probation"), "probation result"),
    (("time", "to", "event"), "time to event"),
)
_LEAK_ZH = (
    "离职",
    "辞职",
    "辞退",
    "解雇",
    "开除",
    "解除",
    "终止",
    "退出",
    "流失",
    "在职",
    "状态",
    "去向",
    "离开",
    "离司",
    "离岗",
    "最后工作日",
    "转正",
    "留存",
    "原因",
)

_PROTECTED_WORDS = {
    "gender": "gender",
    "sex": "sex",
    "age": "age",
    "ages": "age",
    "birth": "birth date",
    "birthday": "birth date",
    "birthdate": "birth date",
    "dob": "birth date",
    "born": "birth date",
    "ethnicity": "ethnicity",
    "ethnic": "ethnicity",
    "race": "race",
    "nationality": "nationality",
    "religion": "religion",
    "religious": "religion",
    "marital": "marital status",
    "married": "marital status",
    "marriage": "marital status",
    "spouse": "marital status",
    "pregnant": "pregnancy",
    "pregnancy": "pregnancy",
    "maternity": "pregnancy",
    "paternity": "family status",
    "children": "family status",
    "kids": "family status",
    "disability": "disability",
    "disabled": "disability",
    "handicap": "disability",
    "health": "health",
    "medical": "health",
    "illness": "health",
    "union": "union membership",
    "political": "political affiliation",
    "party": "political affiliation",
    "hukou": "household registration (hukou)",
    "hometown": "place of origin",
    "birthplace": "place of origin",
    "origin": "place of origin",
    "photo": "photo",
    "height": "height",
    "weight": "weight",
    "blood": "blood type",
    "zodiac": "zodiac",
    "orientation": "sexual orientation",
}
_PROTECTED_ZH = {
    "性别": "gender",
    "男女": "gender",
    "年龄": "age",
    "岁": "age",
    "出生": "birth date",
    "生日": "birth date",
    "民族": "ethnicity",
    "种族": "race",
    "国籍": "nationality",
    "宗教": "religion",
    "信仰": "religion",
    "婚姻": "marital status",
    "婚否": "marital status",
    "已婚": "marital status",
    "未婚": "marital status",
    "怀孕": "pregnancy",
    "孕": "pregnancy",
    "生育": "pregnancy",
    "子女": "family status",
    "孩子": "family status",
    "残疾": "disability",
    "健康": "health",
    "病史": "health",
    "工会": "union membership",
    "政治面貌": "political affiliation",
    "党员": "political affiliation",
    "户口": "household registration (hukou)",
    "户籍": "household registration (hukou)",
    "籍贯": "place of origin",
    "身高": "height",
    "体重": "weight",
    "血型": "blood type",
    "照片": "photo",
    "生肖": "zodiac",
    "属相": "zodiac",
    "星座": "zodiac",
}


def name_words(name: str) -> list[str]:
    """``YearsSinceLastPromotion`` -> [years, since, last, promotion]; ``exit_date`` ->
    [exit, date]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", spaced)
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def _has_phrase(words: list[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tuple(words[i : i + n]) == phrase for i in range(len(words) - n + 1))


def protected_reason(name: str) -> str | None:
    """The protected attribute a column's name refers to, or None."""
    words = name_words(name)
    for word in words:
        if word in _PROTECTED_WORDS:
            return _PROTECTED_WORDS[word]
    for fragment, reason in _PROTECTED_ZH.items():
        if fragment in name:
            return reason
    return None


def leak_reason(name: str) -> str | None:
    """Why a column's name says it describes the outcome, or None."""
    words = name_words(name)
    if words in (["active"], ["is", "active"], ["still", "employed"], ["employed"]):
        return "an active flag (still employed?)"
    for phrase, reason in _LEAK_PHRASES:
        if _has_phrase(words, phrase):
            return reason
    for word in words:
        if word in _LEAK_WORDS:
            return _LEAK_WORDS[word]
    for fragment in _LEAK_ZH:
        if fragment in name:
            return fragment
    return None


def check_feature_names(mapping: ColumnMapping) -> None:
    """Refuse (422) features that are protected, named proxies, or named like the outcome."""
    proxies = set(mapping.proxies)
    problems: list[tuple[str, str, str]] = []
    for column, kind in mapping.features():
        fieldname = f"mapping.{kind}"
        if column in proxies:
            problems.append((fieldname, column, "named by HR as a proxy of a protected attribute"))
            continue
        protected = protected_reason(column)
        if protected:
            problems.append(
                (
                    fieldname,
                    column,
                    f"a protected attribute ({protected}): never a feature; map it under "
                    "'protected' for the fairness report",
                )
            )
            continue
        leak = leak_reason(column)
        if leak and column not in mapping.allow_leaky_names:
            problems.append(
                (
                    fieldname,
                    column,
                    f"its name says it describes the outcome ({leak}): it would leak the label "
                    "(if it is known before the outcome, list it in allow_leaky_names)",
                )
            )
    if problems:
        detail = "; ".join(f"{column!r}: {why}" for _, column, why in problems)
        raise Unprocessable(
            f"refused feature columns: {detail}",
            field=problems[0][0],
            columns=[column for _, column, _ in problems],
        )


@dataclass(frozen=True)
class LeakFinding:
    column: str
    kind: str  # "separates" | "populated_for_one_outcome"
    auc: float
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "auc": round(self.auc, 4),
            "detail": self.detail,
        }


def _auc(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score))


def _oof_target_mean(codes: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    filled = np.where(np.isnan(codes), -1.0, codes)
    out = np.zeros(len(y))
    prior = float(y.mean())
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    for train, test in folds.split(filled, y):
        keys, inverse = np.unique(filled[train], return_inverse=True)
        sums = np.bincount(inverse, weights=y[train], minlength=len(keys))
        counts = np.bincount(inverse, minlength=len(keys))
        means = (sums + 5 * prior) / (counts + 5)
        pos = np.searchsorted(keys, filled[test])
        pos = np.clip(pos, 0, len(keys) - 1)
        found = keys[pos] == filled[test]
        out[test] = np.where(found, means[pos], prior)
    return out


def data_leaks(dataset: Dataset, *, threshold: float = 0.97, seed: int = 7) -> list[LeakFinding]:
    """Columns that on their own separate the outcome with ROC-AUC >= ``threshold``, or whose
    being filled in does."""
    import numpy as np

    y = dataset.y.astype(np.float64)
    findings: list[LeakFinding] = []
    if y.min() == y.max():
        return findings
    for j, feat in enumerate(dataset.spec.features):
        column = dataset.X[:, j]
        present = ~np.isnan(column)
        if 0 < present.sum() < len(column):
            auc = _auc(y, present.astype(np.float64))
            if max(auc, 1 - auc) >= threshold:
                who = "positives" if auc >= 0.5 else "negatives"
                findings.append(
                    LeakFinding(
                        feat.name,
                        "populated_for_one_outcome",
                        max(auc, 1 - auc),
                        f"filled in almost only for the {who}: recorded because of the outcome",
                    )
                )
        if present.sum() < 20 or y[present].min() == y[present].max():
            continue
        if feat.kind == "categorical":
            score = _oof_target_mean(column, y, seed)
            auc = _auc(y, score)
        else:
            auc = _auc(y[present], column[present])
        auc = max(auc, 1 - auc)
        if auc >= threshold:
            findings.append(
                LeakFinding(
                    feat.name,
                    "separates",
                    auc,
                    f"on its own it separates the outcome almost perfectly (ROC-AUC {auc:.3f})",
                )
            )
    return findings


def refuse_data_leaks(
    dataset: Dataset, *, threshold: float = 0.97, findings: list[LeakFinding] | None = None
) -> None:
    """Raise ``Unprocessable`` naming the columns at or above ``threshold`` (``findings``:
    already computed at a lower threshold, to look once)."""
    if findings is None:
        findings = data_leaks(dataset, threshold=threshold)
    findings = [f for f in findings if f.auc >= threshold]
    if findings:
        kinds = {f.name: f.kind for f in dataset.spec.features}
        first = findings[0]
        detail = "; ".join(f"{f.column!r}: {f.detail}" for f in findings)
        raise Unprocessable(
            f"columns that leak the outcome: {detail}",
            field=f"mapping.{kinds[first.column]}",
            columns=list(dict.fromkeys(f.column for f in findings)),
            leaks=[f.to_dict() for f in findings],
        )
