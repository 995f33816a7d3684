"""A person's revenue position: booked, collected, share collected, per currency."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query

from zhanli_kpi.db import people_table
from zhanli_kpi.revenue import repository
from zhanli_kpi.revenue.models import RevenuePosition
from zhanli_kpi.revenue.schemas import CurrencyPosition, RevenueRead
from zhanli_shared.auth import CurrentPrincipal
from zhanli_shared.db import utcnow
from zhanli_shared.directory import PeopleProjection
from zhanli_shared.errors import NotFound, OutOfScope
from zhanli_shared.money import business_month
from zhanli_shared.runtime import RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/kpi", tags=["revenue"])
people = PeopleProjection(people_table)
ZERO = Decimal("0.00")

Period = Annotated[
    str | None,
    Query(
        pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="Business month YYYY-MM; default: current"
    ),
]


def _line(pos: RevenuePosition | None, currency: str) -> CurrencyPosition:
    booked = pos.booked if pos else ZERO
    collected = pos.collected if pos else ZERO
    share = (collected / booked).quantize(Decimal("0.0001")) if booked > 0 else Decimal("0")
    return CurrencyPosition(
        currency=currency,
        booked=booked,
        collected=collected,
        refunded=pos.refunded if pos else ZERO,
        cancelled=pos.cancelled if pos else ZERO,
        collected_share=share,
        deals=pos.deals if pos else 0,
        payments=pos.payments if pos else 0,
        refunds=pos.refunds if pos else 0,
        cancellations=pos.cancellations if pos else 0,
        updated_at=pos.updated_at if pos else None,
    )


@router.get("/people/{employee_id}/revenue", response_model=RevenueRead)
async def read_revenue(
    employee_id: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
    period: Period = None,
) -> RevenueRead:
    """The period in the company currency; positions in any other currency are listed in
    ``other_currencies``, never added to it."""
    person = await people.get(session, employee_id)
    if person is None:
        raise NotFound(f"Unknown person {employee_id!r}.")
    if not principal.can_view_person(employee_id, person.org_path):
        raise OutOfScope(f"Unknown person {employee_id!r}.")  # alike: no id enumeration
    period = period or business_month(utcnow(), runtime.settings.timezone)
    home = runtime.settings.currency
    by_currency = {p.currency: p for p in await repository.positions(session, employee_id, period)}
    main = _line(by_currency.pop(home, None), home)
    return RevenueRead(
        employee_id=employee_id,
        period=period,
        other_currencies=[_line(p, c) for c, p in sorted(by_currency.items())],
        **main.model_dump(),
    )
