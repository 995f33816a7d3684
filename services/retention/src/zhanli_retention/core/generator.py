"""The demo ground truth: new salespeople whose leaving is driven by noisy, partly hidden
causes.

Each person has latent traits the platform never sees directly: ability, engagement,
their mentor's quality, an outside pull (offers, family, commute: never observed by any
signal) and random shocks. The signals the platform does see (training completion, mentor
rating, weekly growth, KPI, commission, match score at hire, manager changes) are noisy
proxies of some of those traits. The weekly hazard of leaving is a logistic function of the
latent traits, not of the signals, so no model can be perfect: a validation ROC-AUC close to
1 would mean a leak, not a good model. Typical figures: model 0.70-0.80, rules lower.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field

from zhanli_retention.core.features import PersonFacts, Signal, Timeline

REASONS = ("resignation", "dismissal", "failed_probation", "other")


@dataclass
class GeneratedPerson:
    employee_id: str
    hired_on: dt.date
    left_on: dt.date | None
    exit_reason: str | None
    mentor_id: str
    gender: str
    age_band: str
    signals: list[Signal] = field(default_factory=list)

    def facts(self, observed_until: dt.date | None = None) -> PersonFacts:
        sig = self.signals
        left = self.left_on
        if observed_until is not None:
            sig = [s for s in sig if s.observed_on <= observed_until]
            if left is not None and left > observed_until:
                left = None
        return PersonFacts(self.employee_id, self.hired_on, left, Timeline.of(sig))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def generate(
    n: int,
    *,
    seed: int = 7,
    observed_until: dt.date = dt.date(2026, 11, 30),
    months: int = 18,
    max_weeks: int = 40,
    id_prefix: str = "demo-r",
    base_logit: float = -3.7,
) -> list[GeneratedPerson]:
    rng = random.Random(seed)
    start = observed_until - dt.timedelta(days=30 * months)
    mentors = [f"{id_prefix}-mentor-{i:03d}" for i in range(max(3, n // 8))]
    mentor_quality = {m: rng.gauss(0, 1) for m in mentors}
    people: list[GeneratedPerson] = []
    for k in range(n):
        hired = start + dt.timedelta(days=rng.randrange(0, 30 * months - 14))
        ability = rng.gauss(0, 1)
        engagement = rng.gauss(0, 1)
        outside = rng.gauss(0, 1)  # hidden: no signal shows it
        mentor = rng.choice(mentors)
        mq = mentor_quality[mentor]
        gender = rng.choice(("female", "male"))
        age_band = rng.choices(("18-24", "25-34", "35-44", "45+"), weights=(4, 4, 2, 1))[0]
        p = GeneratedPerson(f"{id_prefix}-{k:06d}", hired, None, None, mentor, gender, age_band)
        sig = p.signals
        match = max(0.0, min(100.0, 65 + 9 * (0.6 * ability + 0.8 * rng.gauss(0, 1))))
        sig.append(Signal("match_score", round(match, 1), hired))
        sig.append(Signal("hire_pool", 2.0 if match >= 80 else 1.0 if match >= 60 else 0.0, hired))
        completion = 0.0
        pace = max(0.01, 0.05 + 0.02 * engagement + 0.01 * rng.gauss(0, 1))
        manager_shock = 0.0
        zero_run = 0
        for w in range(max_weeks):
            day = hired + dt.timedelta(days=7 * w)
            end = day + dt.timedelta(days=6)
            if end > observed_until:
                break
            # Signals of the week, observed at its end.
            completion = min(1.0, completion + max(0.0, pace + 0.02 * rng.gauss(0, 1)))
            sig.append(Signal("training_completion", round(completion, 3), end))
            expected = min(1.0, 0.08 * (w + 1))
            overdue = max(0, round((expected - completion) * 8))
            sig.append(Signal("overdue_courses", float(overdue), end))
            if w % 2 == 1:
                rating = 7.2 + 1.1 * mq + 0.5 * engagement + 1.0 * rng.gauss(0, 1)
                sig.append(Signal("mentor_rating", round(max(0, min(10, rating)), 1), end))
                sig.append(
                    Signal(
                        "mentor_task_completion",
                        round(
                            max(0.0, min(1.0, 0.75 + 0.1 * engagement + 0.1 * rng.gauss(0, 1))), 2
                        ),
                        end,
                    )
                )
            growth = 0.02 * (ability + 0.6 * engagement) + 0.03 * rng.gauss(0, 1)
            if rng.random() < _sigmoid(-0.8 - 0.9 * ability):
                growth = 0.0  # a week without any new business
            sig.append(Signal("performance_growth", round(growth, 4), end))
            zero_run = zero_run + 1 if growth <= 0 else 0
            if w % 2 == 0:
                sig.append(
                    Signal(
                        "skill_improvement", round(0.02 * ability + 0.03 * rng.gauss(0, 1), 4), end
                    )
                )
            if w % 4 == 3:
                kpi = max(0.0, 0.7 + 0.2 * ability + 0.1 * engagement + 0.15 * rng.gauss(0, 1))
                sig.append(Signal("kpi_score", round(kpi, 3), end))
                sig.append(
                    Signal(
                        "commission_period_total",
                        round(max(0.0, 3000 * kpi + 800 * rng.gauss(0, 1)), 2),
                        end,
                    )
                )
            if rng.random() < 0.01:
                sig.append(Signal("manager_change", 1.0, end))
                manager_shock = 1.0
            if rng.random() < 0.01:
                sig.append(Signal("target_adjustment", 1.0, end))
            # The hazard of leaving during the next week: latent causes plus a little of
            # what is visible (a run of bad weeks hurts), plus noise.
            probation_bump = 0.5 if 4 <= w <= 16 else (-0.4 if w > 26 else 0.0)
            behind = expected - completion  # training falling behind hurts past a point
            z = (
                base_logit
                - 0.5 * engagement
                - 0.35 * ability
                + 0.8 * outside
                + (0.9 if behind > 0.25 else 0.0)
                + (0.9 if mq < -0.5 and engagement < 0 else 0.0)  # a poor mentor, a shaky hire
                + (0.7 if zero_run >= 2 else 0.0)
                + 0.6 * manager_shock
                + probation_bump
                + 0.4 * rng.gauss(0, 1)
            )
            manager_shock *= 0.7
            if rng.random() < _sigmoid(z):
                left = end + dt.timedelta(days=rng.randrange(1, 8))
                if left <= observed_until:
                    p.left_on = left
                    if ability < -1 and w < 26:
                        p.exit_reason = "failed_probation"
                    elif ability < -1.3:
                        p.exit_reason = "dismissal"
                    else:
                        p.exit_reason = rng.choices(REASONS, weights=(8, 0, 0, 1))[0]
                break
        people.append(p)
    return people


def timelines(
    people: list[GeneratedPerson], org_path: list[str] | None = None
) -> list[dict[str, object]]:
    """The people as the body of ``POST /api/v1/retention/history/timelines`` (JSON-ready)."""
    return [
        {
            "employee_id": p.employee_id,
            "hired_on": p.hired_on.isoformat(),
            "left_on": p.left_on.isoformat() if p.left_on else None,
            "exit_reason": p.exit_reason,
            "mentor_id": p.mentor_id,
            "org_path": list(org_path or []),
            "gender": p.gender,
            "age_band": p.age_band,
            "signals": [
                {"name": s.name, "value": s.value, "observed_on": s.observed_on.isoformat()}
                for s in p.signals
            ],
        }
        for p in people
    ]
