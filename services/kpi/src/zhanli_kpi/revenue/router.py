"""A person's revenue position: booked, collected, share collected."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query

from zhanli_kpi.db import people_table
from zhanli_kpi.revenue import repository
from zhanli_kpi.revenue.schemas import RevenueRead
from zhanli_shared.auth import CurrentPrincipal
from zhanli_shared.db import utcnow
from zhanli_shared.directory import PeopleProjection
from zhanli_shared.errors import Forbidden, NotFound
from zhanli_shared.money import business_month
from zhanli_shared.runtime import RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/kpi", tags=["revenue"])
people = PeopleProjection(people_table)

Period = Annotated[
    str | None,
    Query(
        pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="Business month YYYY-MM; default: current"
    ),
]


@router.get("/people/{employee_id}/revenue", response_model=RevenueRead)
async def read_revenue(
    employee_id: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
    period: Period = None,
) -> RevenueRead:
    person = await people.get(session, employee_id)
    if person is None:
        raise NotFound(f"Unknown person {employee_id!r}.")
    if not principal.can_view_person(employee_id, person.org_path):
        raise Forbidden("Outside your data scope.")
    period = period or business_month(utcnow(), runtime.settings.timezone)
    pos = await repository.position(session, employee_id, period)
    booked = pos.booked if pos else Decimal("0.00")
    collected = pos.collected if pos else Decimal("0.00")
    share = (collected / booked).quantize(Decimal("0.0001")) if booked else Decimal("0")
    return RevenueRead(
        employee_id=employee_id,
        period=period,
        currency=pos.currency if pos else runtime.settings.currency,
        booked=booked,
        collected=collected,
        collected_share=share,
        deals=pos.deals if pos else 0,
        payments=pos.payments if pos else 0,
        updated_at=pos.updated_at if pos else None,
    )
