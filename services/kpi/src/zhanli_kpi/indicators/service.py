"""Define and change indicators; each change is checked against the whole library (ratio
parts exist, formulas parse and name known indicators, no circular formulas)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_kpi.auditing import exact
from zhanli_kpi.core import formula as formulas
from zhanli_kpi.indicators import repository
from zhanli_kpi.indicators.models import Indicator
from zhanli_kpi.indicators.schemas import IndicatorRead, IndicatorWrite
from zhanli_shared import audit
from zhanli_shared.auth import Principal
from zhanli_shared.db import utcnow
from zhanli_shared.errors import Unprocessable
from zhanli_shared.events.outbox import Publisher

DERIVED = ("ratio", "formula")


def formula_of(ind: Any) -> formulas.Formula | None:
    """A derived indicator as a formula (a ratio is ``numerator / denominator``)."""
    if ind.aggregation == "ratio":
        return formulas.parse(f"{ind.numerator} / {ind.denominator}")
    if ind.aggregation == "formula" and ind.formula:
        return formulas.parse(ind.formula)
    return None


def derived(library: Mapping[str, Any]) -> dict[str, formulas.Formula]:
    out = {}
    for code, ind in library.items():
        f = formula_of(ind)
        if f is not None:
            out[code] = f
    return out


def check(code: str, body: IndicatorWrite, library: Mapping[str, Any]) -> None:
    known = set(library) | {code}
    if body.aggregation == "ratio":
        for name in ("numerator", "denominator"):
            part = getattr(body, name)
            if not part:
                raise Unprocessable(f"A ratio needs a {name}.", field=name)
            if part not in known or part == code:
                raise Unprocessable(f"{part!r} is not another indicator.", field=name)
    if body.aggregation == "formula":
        if not body.formula:
            raise Unprocessable("A formula indicator needs a formula.", field="formula")
        try:
            parsed = formulas.parse(body.formula)
        except formulas.FormulaError as exc:
            raise Unprocessable(exc.message, field="formula") from exc
        unknown = sorted(parsed.names - known)
        if unknown:
            raise Unprocessable(
                f"Unknown indicator {unknown[0]!r} in the formula.", field="formula"
            )
    elif body.formula:
        raise Unprocessable("Only a formula indicator has a formula.", field="formula")
    if body.source in ("peer_rating", "cross_rating"):
        if body.scale_min is None or body.scale_max is None:
            raise Unprocessable("A rating needs scale_min and scale_max.", field="scale_max")
    if (
        body.scale_min is not None
        and body.scale_max is not None
        and not body.scale_min < body.scale_max
    ):
        raise Unprocessable("scale_min must be below scale_max.", field="scale_max")
    for linked in body.linked:
        if linked not in known:
            raise Unprocessable(f"Unknown linked indicator {linked!r}.", field="linked")
    trial = dict(library)
    trial[code] = body
    try:
        formulas.order(derived(trial))
    except formulas.FormulaError as exc:
        raise Unprocessable(exc.message, field="formula") from exc


async def put_indicator(
    session: AsyncSession,
    publisher: Publisher,
    code: str,
    body: IndicatorWrite,
    *,
    actor: Principal,
    source_ip: str | None,
) -> tuple[Indicator, bool]:
    library = await repository.all_indicators(session)
    check(code, body, library)
    row = library.get(code)
    before = IndicatorRead.model_validate(row).model_dump(mode="json") if row else None
    created = row is None
    if row is None:
        row = Indicator(code=code)
        session.add(row)
    for key, value in body.model_dump().items():
        setattr(row, key, value)
    row.updated_at, row.updated_by = utcnow(), actor.subject
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="kpi.indicator.created" if created else "kpi.indicator.updated",
        entity_type="kpi_indicator",
        entity_id=code,
        before=exact(before),
        after=exact(IndicatorRead.model_validate(row).model_dump(mode="json")),
        source_ip=source_ip,
    )
    return row, created
