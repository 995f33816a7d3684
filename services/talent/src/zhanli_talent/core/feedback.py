"""The feedback loop: how hires of each match-score band and pool fared (retained past a
horizon, performing), and what that suggests for the thresholds. Pure: no I/O."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

MIN_KNOWN = 10  # below this many known outcomes a band's rates are not judged


@dataclass(frozen=True)
class Hire:
    score: float | None
    pool: str | None
    hired_on: dt.date
    separated_on: dt.date | None
    kpi: float | None  # mean KPI score since hire (1.0 = 100 %)


def band_of(score: float | None, elimination_below: float, focus_above: float) -> str:
    if score is None:
        return "unscored"
    if score < elimination_below:
        return f"<{elimination_below:g}"
    if score > focus_above:
        return f">{focus_above:g}"
    return f"{elimination_below:g}-{focus_above:g}"


def retained(h: Hire, horizon_days: int, today: dt.date) -> bool | None:
    """True: still there ``horizon_days`` after the hire; False: left before; None: too
    early to tell."""
    limit = h.hired_on + dt.timedelta(days=horizon_days)
    if h.separated_on is not None and h.separated_on < limit:
        return False
    if today >= limit:
        return True
    return None


def summarise(
    hires: Sequence[Hire],
    *,
    group: str,
    elimination_below: float,
    focus_above: float,
    horizon_days: int,
    performing_at: float,
    today: dt.date,
) -> list[dict[str, object]]:
    """One row per band (``group="band"``) or pool (``group="pool"``)."""
    rows: dict[str, dict[str, int]] = {}
    for h in hires:
        key = (
            band_of(h.score, elimination_below, focus_above)
            if group == "band"
            else (h.pool or "unscored")
        )
        r = rows.setdefault(
            key, {"hires": 0, "known": 0, "retained": 0, "performing": 0, "rated": 0}
        )
        r["hires"] += 1
        kept = retained(h, horizon_days, today)
        if kept is not None:
            r["known"] += 1
            r["retained"] += int(kept)
        if h.kpi is not None:
            r["rated"] += 1
            r["performing"] += int(h.kpi >= performing_at)
    out: list[dict[str, object]] = []
    for key, r in sorted(rows.items()):
        out.append(
            {
                group: key,
                **r,
                "retention_rate": round(r["retained"] / r["known"], 4) if r["known"] else None,
                "performing_rate": round(r["performing"] / r["rated"], 4) if r["rated"] else None,
                "reliable": r["known"] >= MIN_KNOWN,
            }
        )
    return out


def suggestions(
    bands: Sequence[dict[str, object]], elimination_below: float, focus_above: float
) -> list[str]:
    """Threshold advice from the bands' retention (only bands with enough outcomes)."""
    by = {str(b["band"]): b for b in bands if b.get("reliable")}
    low = by.get(f"<{elimination_below:g}")
    mid = by.get(f"{elimination_below:g}-{focus_above:g}")
    high = by.get(f">{focus_above:g}")
    rate = lambda b: float(b["retention_rate"])  # noqa: E731
    out: list[str] = []
    if not (mid and high):
        return [
            f"Not enough known outcomes yet (at least {MIN_KNOWN} per band): keep the "
            "thresholds and collect outcomes."
        ]
    if rate(mid) >= rate(high):
        out.append(
            f"Review-band hires are retained as well as focus-band hires ({rate(mid):.0%} vs "
            f"{rate(high):.0%}): the profile does not separate them; re-learn it, or lower "
            f"focus_above (e.g. to {focus_above - 5:g})."
        )
    if low and rate(low) >= 0.9 * rate(mid):
        out.append(
            f"Hires below {elimination_below:g} were retained about as often as the review "
            f"band ({rate(low):.0%} vs {rate(mid):.0%}): elimination_below may be too strict "
            f"(e.g. {elimination_below - 5:g})."
        )
    if low and rate(low) > 0 and rate(high) >= 2 * rate(low):
        out.append(
            f"Focus-band hires are retained {rate(high) / rate(low):.1f}x as often as those "
            f"below {elimination_below:g}: the thresholds separate outcomes; keep them."
        )
    if not out:
        out.append("The bands are ordered as expected; no threshold change suggested.")
    return out
