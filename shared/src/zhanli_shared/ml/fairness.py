"""Selection / flag rates by group (gender, age band...) with the four-fifths rule.

``fairness_report(outcome, {"gender": [...], "age_band": [...]}, kind="selection")``:

- ``kind="selection"`` (favourable outcome: shortlisted, focus pool): impact ratio of a group
  = its rate / the highest reliable group's rate;
- ``kind="flag"`` (adverse outcome: flagged high-risk, eliminated): impact ratio = the lowest
  reliable group's rate / the group's rate (a group flagged more than 1.25x as often as the
  least flagged one is below 0.8).

A ratio below ``threshold`` (0.8) is flagged. Groups smaller than ``min_group_size`` are
marked unreliable (shown, never flagged, never the reference); missing values form the
group "unknown". ``age_band(age_or_birth_date, as_of=...)`` gives the bands used;
``protected_groups(dataset.protected)`` turns a dataset's protected columns into groups
(age -> age band, gender/性别 -> gender, others as written).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Literal

AGE_BANDS: tuple[tuple[int, str], ...] = ((25, "<25"), (35, "25-34"), (45, "35-44"), (55, "45-54"))
UNKNOWN = "unknown"


def age_band(value: Any, *, as_of: dt.date | None = None) -> str | None:
    """An age (number or numeric text) or a birth date -> "<25", "25-34", "35-44", "45-54",
    "55+"; None when unknown."""
    from zhanli_shared.ml.tabular import parse_date, parse_number

    age: float | None = None
    if isinstance(value, dt.date):
        day: dt.date | None = value.date() if isinstance(value, dt.datetime) else value
    else:
        number, _ = parse_number(value)
        day = None
        if number is not None and 10 <= number <= 100:
            age = number
        elif number is None:
            day, _ = parse_date(value)
    if day is not None:
        ref = as_of or dt.date.today()
        age = ref.year - day.year - ((ref.month, ref.day) < (day.month, day.day))
    if age is None:
        return None
    for upper, label in AGE_BANDS:
        if age < upper:
            return label
    return "55+"


_GENDER = {
    "m": "male",
    "male": "male",
    "man": "male",
    "男": "male",
    "男性": "male",
    "f": "female",
    "female": "female",
    "woman": "female",
    "女": "female",
    "女性": "female",
}


def gender_group(value: Any) -> str | None:
    """Normalise common spellings (Male/M/男 ...); anything else is kept as written."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    return _GENDER.get(text.casefold(), text)


def fairness_report(
    outcome: Sequence[bool] | Any,
    groups: Mapping[str, Sequence[str | None]],
    *,
    kind: Literal["selection", "flag"] = "selection",
    min_group_size: int = 30,
    threshold: float = 0.8,
) -> dict[str, Any]:
    values = [bool(v) for v in outcome]
    attributes: list[dict[str, Any]] = []
    for attribute, labels in groups.items():
        if len(labels) != len(values):
            raise ValueError(f"{attribute}: {len(labels)} labels for {len(values)} outcomes")
        counts: dict[str, list[int]] = {}
        for label, hit in zip(labels, values, strict=True):
            key = label if label not in (None, "") else UNKNOWN
            entry = counts.setdefault(str(key), [0, 0])
            entry[0] += 1
            entry[1] += int(hit)
        rows: list[dict[str, Any]] = []
        for key, (n, hits) in sorted(counts.items()):
            rows.append(
                {
                    "group": key,
                    "n": n,
                    "count": hits,
                    "rate": hits / n if n else 0.0,
                    "reliable": n >= min_group_size and key != UNKNOWN,
                }
            )
        reliable = [r for r in rows if r["reliable"]]
        reference: dict[str, Any] | None = None
        if reliable:
            if kind == "selection":
                reference = max(reliable, key=lambda r: (r["rate"], r["n"]))
            else:
                reference = min(reliable, key=lambda r: (r["rate"], -r["n"]))
        flagged_any = False
        for r in rows:
            ratio: float | None = None
            if reference is not None:
                if kind == "selection":
                    ratio = r["rate"] / reference["rate"] if reference["rate"] > 0 else 1.0
                else:
                    ratio = reference["rate"] / r["rate"] if r["rate"] > 0 else 1.0
            r["impact_ratio"] = None if ratio is None else round(ratio, 4)
            r["rate"] = round(r["rate"], 4)
            r["four_fifths_flag"] = bool(r["reliable"] and ratio is not None and ratio < threshold)
            flagged_any = flagged_any or r["four_fifths_flag"]
        attributes.append(
            {
                "attribute": attribute,
                "reference_group": reference["group"] if reference else None,
                "groups": rows,
                "flagged": flagged_any,
                "unreliable_groups": [r["group"] for r in rows if not r["reliable"]],
            }
        )
    return {
        "kind": kind,
        "threshold": threshold,
        "min_group_size": min_group_size,
        "n": len(values),
        "attributes": attributes,
        "flagged": any(a["flagged"] for a in attributes),
        "note": (
            "Four-fifths rule: a group's impact ratio below the threshold is flagged for "
            "review. Groups smaller than min_group_size are unreliable (shown, not judged). "
            "A flag is a reason to look, not proof of discrimination; no flag is no proof "
            "of fairness."
        ),
    }


def protected_groups(
    protected: Mapping[str, Sequence[Any]], *, as_of: dt.date | None = None
) -> dict[str, list[str | None]]:
    """The groups of a dataset's protected columns (``Dataset.protected``): an age or birth
    date column becomes ``age_band``, a gender/性别 column ``gender`` (normalised), any
    other column its values as written."""
    from zhanli_shared.ml.leakage import protected_reason

    out: dict[str, list[str | None]] = {}
    for column, values in protected.items():
        reason = protected_reason(column)
        if reason in ("age", "birth date"):
            out["age_band"] = [age_band(v, as_of=as_of) for v in values]
        elif reason in ("gender", "sex"):
            out["gender"] = [gender_group(v) for v in values]
        else:
            out[column] = [None if v is None else str(v) for v in values]
    return out
