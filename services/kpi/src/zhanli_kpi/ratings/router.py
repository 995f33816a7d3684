"""Ratings in (any person, of a colleague) and their anonymous summary out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from zhanli_kpi.boards.service import people
from zhanli_kpi.ratings import service
from zhanli_kpi.ratings.schemas import RatingAccepted, RatingSummary, RatingWrite
from zhanli_kpi.settings import kpi_settings
from zhanli_shared.auth import CurrentPrincipal
from zhanli_shared.errors import NotFound, OutOfScope
from zhanli_shared.runtime import PublisherDep, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/kpi", tags=["kpi ratings"])


@router.post("/ratings", status_code=201, response_model=RatingAccepted)
async def post_rating(
    body: RatingWrite,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> RatingAccepted:
    """Rate a colleague (peer or cross-department); anonymous to them, once a period."""
    row = await service.rate(session, publisher, kpi_settings(runtime), body, rater=principal)
    return RatingAccepted(
        rating_id=row.rating_id, rated_id=row.rated_id, indicator=row.indicator, period=row.period
    )


@router.get("/people/{employee_id}/ratings", response_model=list[RatingSummary])
async def read_ratings(
    employee_id: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    period: Annotated[str, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")],
) -> list[RatingSummary]:
    """Per indicator: how many rated, the average and the comments; never who."""
    person = await people.get(session, employee_id)
    if person is None:
        raise NotFound(f"Unknown person {employee_id!r}.")
    if not principal.can_view_person(employee_id, person.org_path):
        raise OutOfScope(f"Unknown person {employee_id!r}.")  # alike: no id enumeration
    return await service.summary(session, employee_id, period)
