"""Ratings: a person rates a colleague on a rating indicator (peer: teamwork; cross-
department: operations rate sales collaboration, sales rate customer-service support).
Never oneself, once per rater, person, indicator and period, within the indicator's scale;
a cross-department rating comes from another job role. Each rating is a fact of the
rated person's indicator (its average is the value), so the board follows at once."""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_kpi.boards.service import people
from zhanli_kpi.facts import service as facts
from zhanli_kpi.facts.schemas import FactIn
from zhanli_kpi.indicators import repository as indicators
from zhanli_kpi.ratings.models import Rating
from zhanli_kpi.ratings.schemas import RatingSummary, RatingWrite
from zhanli_kpi.settings import KpiSettings
from zhanli_shared.auth import Principal
from zhanli_shared.db import utcnow
from zhanli_shared.errors import Conflict, Unprocessable
from zhanli_shared.events.outbox import Publisher


async def rate(
    session: AsyncSession,
    publisher: Publisher,
    settings: KpiSettings,
    body: RatingWrite,
    *,
    rater: Principal,
) -> Rating:
    if body.rated_id == rater.subject:
        raise Unprocessable("Nobody rates themselves.", field="rated_id")
    me = await people.get(session, rater.subject)
    if me is None:
        raise Unprocessable("Only a person of the directory rates.", field="rater")
    rated = await people.get(session, body.rated_id)
    if rated is None:
        raise Unprocessable(f"Unknown person {body.rated_id!r}.", field="rated_id")
    ind = await indicators.get(session, body.indicator)
    if ind is None or ind.source not in ("peer_rating", "cross_rating"):
        raise Unprocessable(f"{body.indicator!r} is not a rating indicator.", field="indicator")
    low, high = ind.scale_min, ind.scale_max
    if low is None or high is None or not low <= body.score <= high:
        raise Unprocessable(f"The score must be between {low:g} and {high:g}.", field="score")
    if ind.source == "cross_rating" and me.job_role == rated.job_role:
        raise Unprocessable("A cross-department rating comes from another role.", field="indicator")
    taken = (
        await session.execute(
            select(Rating.rating_id).where(
                Rating.rater_id == rater.subject,
                Rating.rated_id == body.rated_id,
                Rating.indicator == body.indicator,
                Rating.period == body.period,
            )
        )
    ).first()
    if taken is not None:
        raise Conflict("You have rated this person on this for the period.", field="rated_id")
    row = Rating(
        rating_id=str(uuid.uuid4()),
        rater_id=rater.subject,
        created_at=utcnow(),
        **body.model_dump(),
    )
    session.add(row)
    year, month = map(int, body.period.split("-"))
    at = dt.datetime(year, month, 15, 12, tzinfo=ZoneInfo(settings.timezone))
    await facts.ingest(
        session,
        publisher,
        settings,
        [
            FactIn(
                source="rating",
                source_id=row.rating_id,
                employee_id=body.rated_id,
                indicator=body.indicator,
                value=body.score,
                occurred_at=at,
            )
        ],
        allowed_sources=("peer_rating", "cross_rating"),
    )
    return row


async def summary(session: AsyncSession, employee_id: str, period: str) -> list[RatingSummary]:
    rows = list(
        (
            await session.execute(
                select(Rating)
                .where(Rating.rated_id == employee_id, Rating.period == period)
                .order_by(Rating.indicator, Rating.created_at)
            )
        ).scalars()
    )
    out: dict[str, list[Rating]] = {}
    for r in rows:
        out.setdefault(r.indicator, []).append(r)
    return [
        RatingSummary(
            indicator=code,
            period=period,
            count=len(rs),
            average=round(sum(r.score for r in rs) / len(rs), 4),
            comments=sorted(r.comment for r in rs if r.comment),  # no order that tells who
        )
        for code, rs in out.items()
    ]
