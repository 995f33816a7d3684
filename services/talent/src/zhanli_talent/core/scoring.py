"""The match score: a candidate against a competency profile, 0-100, with its reasons.

The rule part is a weighted mean of *fits* in [0, 1]: one per profile keyword (BM25 term
saturation and length normalisation, so repeating a word has diminishing returns and a
long resume does not win by length) and one per candidate trait (assessment and
interview results against the profile's threshold, a linear ramp over a tolerance). A
learned probability (from the ml toolkit, once outcomes exist) is blended in with the
profile's ``learned_weight``. Since score = 100 - the points lost on each factor, the
explanation is exact: every reason says how many points its factor gained or lost.

A trait the candidate has not been assessed on counts as a neutral fit (0.5) and is
named in the explanation: a candidate reaches the focus pool on evidence, not on gaps.
Pure: no I/O; ``score`` and ``score_many`` give the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

K1 = 1.2
B = 0.75
FULL_MARK_TF = 2  # two mentions in a resume of average length earn the full keyword fit
NEUTRAL_FIT = 0.5
STRONG_FIT = 0.75


class Pool(StrEnum):
    ELIMINATION = "elimination"
    REVIEW = "review"
    FOCUS = "focus"


@dataclass(frozen=True)
class KeywordSpec:
    term: str  # canonical token
    weight: float = 1.0
    label: str | None = None  # as HR wrote it


@dataclass(frozen=True)
class TraitSpec:
    name: str
    weight: float
    threshold: float
    tolerance: float  # how far below the threshold the fit reaches 0
    higher_is_better: bool = True
    label: str | None = None


@dataclass(frozen=True)
class ProfileSpec:
    keywords: Sequence[KeywordSpec]
    traits: Sequence[TraitSpec]
    keyword_share: float = 0.4  # of the rule score; the traits have the rest
    elimination_below: float = 60.0
    focus_above: float = 80.0
    avg_doc_len: float = 300.0
    learned_weight: float = 0.0


@dataclass(frozen=True)
class Candidate:
    counts: Mapping[str, int]
    length: int
    traits: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Reason:
    factor: str
    kind: str  # keyword | trait | learned
    direction: str  # up | down
    points: float  # gained (up) or lost (down)
    detail: str


@dataclass(frozen=True)
class MatchResult:
    score: float
    pool: Pool
    rule_score: float
    learned_probability: float | None
    reasons_up: list[Reason]
    reasons_down: list[Reason]
    keywords_matched: list[str]
    keywords_missing: list[str]
    traits_missing: list[str]


def keyword_fit(tf: float, length: float, avg_doc_len: float) -> float:
    """BM25's saturation of ``tf`` in a document of ``length``, relative to the full
    mark (``FULL_MARK_TF`` mentions at the average length), capped at 1."""
    if tf <= 0:
        return 0.0
    norm = K1 * (1 - B + B * max(length, 1) / max(avg_doc_len, 1.0))
    s = tf * (K1 + 1) / (tf + norm)
    full = FULL_MARK_TF * (K1 + 1) / (FULL_MARK_TF + K1)
    return min(1.0, s / full)


def trait_fit(value: float | None, spec: TraitSpec) -> float:
    """1 at or beyond the threshold, falling linearly to 0 at ``tolerance`` short of it."""
    if value is None or math.isnan(value):
        return NEUTRAL_FIT
    gap = (spec.threshold - value) if spec.higher_is_better else (value - spec.threshold)
    if gap <= 0:
        return 1.0
    return max(0.0, 1.0 - gap / max(spec.tolerance, 1e-9))


def pool_of(score: float, profile: ProfileSpec) -> Pool:
    if score < profile.elimination_below:
        return Pool.ELIMINATION
    if score > profile.focus_above:
        return Pool.FOCUS
    return Pool.REVIEW


def _shares(profile: ProfileSpec) -> tuple[list[float], list[float]]:
    kw_total = sum(max(k.weight, 0.0) for k in profile.keywords)
    tr_total = sum(max(t.weight, 0.0) for t in profile.traits)
    ks = profile.keyword_share if tr_total > 0 else 1.0
    ks = ks if kw_total > 0 else 0.0
    kw = [ks * max(k.weight, 0.0) / kw_total if kw_total else 0.0 for k in profile.keywords]
    tr = [(1 - ks) * max(t.weight, 0.0) / tr_total if tr_total else 0.0 for t in profile.traits]
    return kw, tr


def _learned_part(profile: ProfileSpec, p: float | None) -> float:
    return profile.learned_weight if p is not None else 0.0


def score(
    profile: ProfileSpec, cand: Candidate, learned_probability: float | None = None
) -> MatchResult:
    """Score one candidate with the reasons (top three up and down)."""
    kw_shares, tr_shares = _shares(profile)
    alpha = _learned_part(profile, learned_probability)
    rule_scale = 100.0 * (1 - alpha)
    factors: list[tuple[str, str, float, float, str]] = []  # name, kind, share, fit, detail
    matched: list[str] = []
    missing: list[str] = []
    for spec, share in zip(profile.keywords, kw_shares, strict=True):
        tf = cand.counts.get(spec.term, 0)
        fit = keyword_fit(tf, cand.length, profile.avg_doc_len)
        label = spec.label or spec.term
        (matched if tf else missing).append(label)
        factors.append((label, "keyword", share, fit, f"mentioned {tf}x"))
    traits_missing: list[str] = []
    for tspec, share in zip(profile.traits, tr_shares, strict=True):
        value = cand.traits.get(tspec.name)
        fit = trait_fit(value, tspec)
        label = tspec.label or tspec.name
        if value is None:
            traits_missing.append(tspec.name)
            detail = "not assessed yet (neutral)"
        else:
            op = ">=" if tspec.higher_is_better else "<="
            detail = f"{value:g} vs threshold {op} {tspec.threshold:g}"
        factors.append((label, "trait", share, fit, detail))
    rule = sum(share * fit for _, _, share, fit, _ in factors)
    rule_score = 100.0 * rule
    final = rule_scale * rule
    reasons: list[Reason] = []
    for name, kind, share, fit, detail in factors:
        if share <= 0:
            continue
        if fit >= STRONG_FIT:
            reasons.append(Reason(name, kind, "up", round(rule_scale * share * fit, 1), detail))
        else:
            lost = rule_scale * share * (1 - fit)
            reasons.append(Reason(name, kind, "down", round(lost, 1), detail))
    if learned_probability is not None and alpha > 0:
        p = min(max(learned_probability, 0.0), 1.0)
        final += 100.0 * alpha * p
        if p >= 0.5:
            reasons.append(
                Reason("learned", "learned", "up", round(100 * alpha * p, 1), f"p={p:.2f}")
            )
        else:
            reasons.append(
                Reason("learned", "learned", "down", round(100 * alpha * (1 - p), 1), f"p={p:.2f}")
            )
    final = round(min(100.0, max(0.0, final)), 1)
    up = sorted((r for r in reasons if r.direction == "up"), key=lambda r: (-r.points, r.factor))
    down = sorted(
        (r for r in reasons if r.direction == "down" and r.points >= 0.05),
        key=lambda r: (-r.points, r.factor),
    )
    return MatchResult(
        score=final,
        pool=pool_of(final, profile),
        rule_score=round(rule_score, 1),
        learned_probability=learned_probability,
        reasons_up=up[:3],
        reasons_down=down[:3],
        keywords_matched=matched,
        keywords_missing=missing,
        traits_missing=traits_missing,
    )


def score_many(
    profile: ProfileSpec,
    cands: Sequence[Candidate],
    learned_probabilities: Sequence[float | None] | None = None,
) -> np.ndarray:
    """The scores of many candidates at once (vectorised; the same numbers as ``score``)."""
    n = len(cands)
    kw_shares, tr_shares = _shares(profile)
    lengths = np.fromiter((max(c.length, 1) for c in cands), dtype=np.float64, count=n)
    norm = K1 * (1 - B + B * lengths / max(profile.avg_doc_len, 1.0))
    full = FULL_MARK_TF * (K1 + 1) / (FULL_MARK_TF + K1)
    rule = np.zeros(n)
    for spec, share in zip(profile.keywords, kw_shares, strict=True):
        if share <= 0:
            continue
        term = spec.term
        tf = np.fromiter((c.counts.get(term, 0) for c in cands), dtype=np.float64, count=n)
        s = tf * (K1 + 1) / (tf + norm)
        rule += share * np.minimum(1.0, s / full)
    for tspec, share in zip(profile.traits, tr_shares, strict=True):
        if share <= 0:
            continue
        vals = np.fromiter(
            (c.traits.get(tspec.name, math.nan) for c in cands), dtype=np.float64, count=n
        )
        gap = (tspec.threshold - vals) if tspec.higher_is_better else (vals - tspec.threshold)
        fit = np.where(gap <= 0, 1.0, np.maximum(0.0, 1.0 - gap / max(tspec.tolerance, 1e-9)))
        fit = np.where(np.isnan(vals), NEUTRAL_FIT, fit)
        rule += share * fit
    final = 100.0 * rule
    if learned_probabilities is not None and profile.learned_weight > 0:
        p = np.array(
            [math.nan if x is None else min(max(x, 0.0), 1.0) for x in learned_probabilities]
        )
        blended = 100.0 * ((1 - profile.learned_weight) * rule + profile.learned_weight * p)
        final = np.where(np.isnan(p), final, blended)
    return np.round(np.clip(final, 0.0, 100.0), 1)


def keyword_overlap(terms: Sequence[str], cands: Sequence[Candidate]) -> np.ndarray:
    """The baseline ranking: the share of profile keywords a resume mentions at all."""
    if not terms:
        return np.zeros(len(cands))
    return np.array([sum(1 for t in terms if c.counts.get(t)) / len(terms) for c in cands])
