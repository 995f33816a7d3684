"""Early-warning rules (DOMAIN.md §5): training completion below 80 %, mentor rating below
7, two consecutive weeks of zero growth. Each threshold is configurable; a signal that was
never observed does not fire (it is reported as unknown, never guessed)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RuleSettings:
    training_completion_below: float = 0.80
    mentor_rating_below: float = 7.0
    zero_growth_weeks: int = 2
    # Flags needed for each band: 0 -> low, 1 -> medium, >= high_flags -> high.
    high_flags: int = 2
    enabled: frozenset[str] = field(
        default_factory=lambda: frozenset({"training_completion", "mentor_rating", "zero_growth"})
    )


@dataclass(frozen=True)
class RuleFlag:
    rule: str
    fired: bool | None  # None: the signal is unknown
    value: float | None
    threshold: float
    message_en: str
    message_zh: str


@dataclass(frozen=True)
class RuleResult:
    flags: tuple[RuleFlag, ...]

    @property
    def fired(self) -> list[str]:
        return [f.rule for f in self.flags if f.fired]

    @property
    def score(self) -> float:
        """A 0..1 risk score of the rules alone: the share of enabled rules that fired (a
        ranking for AUC against the model, not a probability)."""
        return len(self.fired) / len(self.flags) if self.flags else 0.0

    def band(self, settings: RuleSettings) -> str:
        n = len(self.fired)
        if n >= settings.high_flags:
            return "high"
        return "medium" if n >= 1 else "low"


def _known(value: float | None) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def evaluate(features: Mapping[str, float | None], settings: RuleSettings) -> RuleResult:
    flags: list[RuleFlag] = []
    if "training_completion" in settings.enabled:
        v = features.get("training_completion")
        t = settings.training_completion_below
        flags.append(
            RuleFlag(
                "training_completion",
                (v < t) if _known(v) else None,  # type: ignore[operator]
                v if _known(v) else None,
                t,
                f"Training completion below {t:.0%}",
                f"培训完成率低于 {t:.0%}",
            )
        )
    if "mentor_rating" in settings.enabled:
        v = features.get("mentor_rating")
        t = settings.mentor_rating_below
        flags.append(
            RuleFlag(
                "mentor_rating",
                (v < t) if _known(v) else None,  # type: ignore[operator]
                v if _known(v) else None,
                t,
                f"Mentor rating below {t:g}",
                f"导师评分低于 {t:g}",
            )
        )
    if "zero_growth" in settings.enabled:
        v = features.get("zero_growth_weeks")
        t = float(settings.zero_growth_weeks)
        flags.append(
            RuleFlag(
                "zero_growth",
                (v >= t) if _known(v) else None,  # type: ignore[operator]
                v if _known(v) else None,
                t,
                f"{settings.zero_growth_weeks} or more consecutive weeks of zero growth",
                f"连续 {settings.zero_growth_weeks} 周及以上业绩零增长",
            )
        )
    return RuleResult(tuple(flags))


def rule_scores(rows: list[Mapping[str, float | None]], settings: RuleSettings) -> list[float]:
    return [evaluate(r, settings).score for r in rows]
