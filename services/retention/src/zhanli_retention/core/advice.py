"""Risk bands and the interventions suggested for the factors that raise a person's risk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from zhanli_retention.core.features import FEATURE_LABELS


@dataclass(frozen=True)
class BandSettings:
    """Bands of the 90-day risk of leaving."""

    medium_from: float = 0.15
    high_from: float = 0.35


def band_of(probability: float, settings: BandSettings) -> str:
    if probability >= settings.high_from:
        return "high"
    if probability >= settings.medium_from:
        return "medium"
    return "low"


@dataclass(frozen=True)
class Intervention:
    kind: str
    en: str
    zh: str


COACHING = Intervention("coaching", "More coaching from the manager", "增加经理辅导")
MENTOR = Intervention("mentor_change", "A different mentor", "更换导师")
TARGET = Intervention("target_adjustment", "An adjusted (flexible) target", "调整(弹性)目标")
TRAINING = Intervention("training_plan", "A catch-up training plan", "补课培训计划")
CHECKIN = Intervention("check_in", "A one-to-one check-in with HR", "HR 一对一沟通")

# Which interventions answer a factor that raises risk.
BY_FACTOR: dict[str, tuple[Intervention, ...]] = {
    "training_completion": (TRAINING, COACHING),
    "overdue_courses": (TRAINING,),
    "weeks_since_training_update": (TRAINING,),
    "mentor_rating": (MENTOR,),
    "mentor_task_completion": (MENTOR, COACHING),
    "skill_improvement": (COACHING,),
    "kpi_score": (COACHING, TARGET),
    "kpi_trend": (COACHING,),
    "zero_growth_weeks": (TARGET, COACHING),
    "growth_last_week": (COACHING,),
    "commission_vs_peers": (TARGET, COACHING),
    "manager_changes": (CHECKIN,),
    "target_adjustments": (CHECKIN,),
    "match_score": (COACHING,),
    "hire_pool": (COACHING,),
    # Not actionable: shown as factors, no intervention of their own.
    "tenure_weeks": (),
    "probation_day": (),
    "in_probation": (),
}

# Rules map onto the factors they read.
RULE_FACTOR = {
    "training_completion": "training_completion",
    "mentor_rating": "mentor_rating",
    "zero_growth": "zero_growth_weeks",
}


@dataclass(frozen=True)
class Factor:
    feature: str
    contribution: float
    value: float | None
    en: str
    zh: str


def top_factors(
    contributions: Sequence[float],
    values: Sequence[float],
    names: Sequence[str],
    n: int = 3,
) -> list[Factor]:
    """The ``n`` features pushing risk up the most (positive contributions, largest first;
    ties by name so the answer is stable)."""
    ranked = sorted(
        (i for i, c in enumerate(contributions) if c > 0),
        key=lambda i: (-contributions[i], names[i]),
    )[:n]
    out = []
    for i in ranked:
        en, zh = FEATURE_LABELS.get(names[i], (names[i], names[i]))
        v = values[i]
        out.append(Factor(names[i], float(contributions[i]), None if v != v else float(v), en, zh))
    return out


def suggest(factors: Sequence[str]) -> list[Intervention]:
    """Interventions answering the factors, in factor order, without repeats."""
    seen: set[str] = set()
    out: list[Intervention] = []
    for f in factors:
        for iv in BY_FACTOR.get(f, ()):
            if iv.kind not in seen:
                seen.add(iv.kind)
                out.append(iv)
    return out or [CHECKIN]
