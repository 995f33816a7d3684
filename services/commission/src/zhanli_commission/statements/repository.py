"""Every query of statements, balances, payout batches and disputes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.commissions.models import CommissionLine, PeriodTotal
from zhanli_commission.db import people_table
from zhanli_commission.statements.models import (
    Dispute,
    PayoutBatch,
    PayoutItem,
    PersonBalance,
    Statement,
    StatementHistory,
)
from zhanli_shared.directory import Person


def _person(row: dict) -> Person:
    return Person(**{k: row[k] for k in Person.__dataclass_fields__})


async def all_people(session: AsyncSession) -> list[Person]:
    rows = (await session.execute(select(people_table))).mappings().all()
    return [_person(dict(r)) for r in rows]


async def people_by_id(session: AsyncSession, ids: list[str]) -> dict[str, Person]:
    if not ids:
        return {}
    stmt = select(people_table).where(people_table.c.employee_id.in_(ids))
    rows = (await session.execute(stmt)).mappings().all()
    return {r["employee_id"]: _person(dict(r)) for r in rows}


async def totals_of_period(
    session: AsyncSession, period: str, *, for_update: bool = False
) -> list[PeriodTotal]:
    stmt = (
        select(PeriodTotal).where(PeriodTotal.period == period).order_by(PeriodTotal.salesperson_id)
    )
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return list((await session.execute(stmt)).scalars())


async def period_total(
    session: AsyncSession, person_id: str, period: str, *, for_update: bool = False
) -> PeriodTotal | None:
    return await session.get(
        PeriodTotal, (person_id, period), with_for_update=for_update, populate_existing=for_update
    )


async def lines_of_period(
    session: AsyncSession, person_id: str, period: str
) -> list[CommissionLine]:
    stmt = (
        select(CommissionLine)
        .where(CommissionLine.salesperson_id == person_id, CommissionLine.period == period)
        .order_by(
            CommissionLine.calculated_at, CommissionLine.occurred_at, CommissionLine.commission_id
        )
    )
    return list((await session.execute(stmt)).scalars())


async def get_line(session: AsyncSession, commission_id: str) -> CommissionLine | None:
    return await session.get(CommissionLine, commission_id)


async def closed_periods_from(session: AsyncSession, person_id: str, period: str) -> set[str]:
    stmt = select(PeriodTotal.period, PeriodTotal.status).where(
        PeriodTotal.salesperson_id == person_id, PeriodTotal.period >= period
    )
    return {p for p, status in (await session.execute(stmt)).all() if status != "open"}


async def get_statement(
    session: AsyncSession, person_id: str, period: str, *, for_update: bool = False
) -> Statement | None:
    return await session.get(
        Statement, (person_id, period), with_for_update=for_update, populate_existing=for_update
    )


async def statements_of_period(
    session: AsyncSession, period: str, status: str, *, for_update: bool = False
) -> list[Statement]:
    stmt = (
        select(Statement)
        .where(
            Statement.period == period,
            Statement.status == status,
            Statement.payout_batch_id.is_(None),
        )
        .order_by(Statement.salesperson_id)
    )
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return list((await session.execute(stmt)).scalars())


async def statements_of_batch(
    session: AsyncSession, batch_id: str, *, for_update: bool = False
) -> list[Statement]:
    stmt = select(Statement).where(Statement.payout_batch_id == batch_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return list((await session.execute(stmt)).scalars())


async def history(session: AsyncSession, person_id: str, period: str) -> list[StatementHistory]:
    stmt = (
        select(StatementHistory)
        .where(StatementHistory.salesperson_id == person_id, StatementHistory.period == period)
        .order_by(StatementHistory.at, StatementHistory.entry_id)
    )
    return list((await session.execute(stmt)).scalars())


async def balance(
    session: AsyncSession, person_id: str, *, for_update: bool = False
) -> PersonBalance | None:
    return await session.get(
        PersonBalance, person_id, with_for_update=for_update, populate_existing=for_update
    )


async def get_batch(
    session: AsyncSession, batch_id: str, *, for_update: bool = False
) -> PayoutBatch | None:
    return await session.get(
        PayoutBatch, batch_id, with_for_update=for_update, populate_existing=for_update
    )


async def items_of_batch(session: AsyncSession, batch_id: str) -> list[PayoutItem]:
    stmt = (
        select(PayoutItem)
        .where(PayoutItem.batch_id == batch_id)
        .order_by(PayoutItem.org_unit_id, PayoutItem.salesperson_id)
    )
    return list((await session.execute(stmt)).scalars())


async def payout_item_of(session: AsyncSession, batch_id: str, person_id: str) -> PayoutItem | None:
    return await session.get(PayoutItem, (batch_id, person_id))


async def get_dispute(
    session: AsyncSession, dispute_id: str, *, for_update: bool = False
) -> Dispute | None:
    return await session.get(
        Dispute, dispute_id, with_for_update=for_update, populate_existing=for_update
    )


async def open_dispute_of_line(session: AsyncSession, commission_id: str) -> Dispute | None:
    stmt = select(Dispute).where(Dispute.commission_id == commission_id, Dispute.status == "open")
    return (await session.execute(stmt)).scalars().first()


async def disputes_of(
    session: AsyncSession, person_id: str, period: str | None, status: str | None
) -> list[Dispute]:
    stmt = select(Dispute).where(Dispute.salesperson_id == person_id)
    if period:
        stmt = stmt.where(Dispute.period == period)
    if status:
        stmt = stmt.where(Dispute.status == status)
    stmt = stmt.order_by(Dispute.raised_at, Dispute.dispute_id)
    return list((await session.execute(stmt)).scalars())


async def list_batches(
    session: AsyncSession,
    *,
    period: str | None,
    status: str | None,
    after: PayoutBatch | None,
    limit: int,
) -> list[PayoutBatch]:
    """Newest first (created_at, then batch id), after the ``after`` batch."""
    stmt = select(PayoutBatch)
    if period is not None:
        stmt = stmt.where(PayoutBatch.period == period)
    if status is not None:
        stmt = stmt.where(PayoutBatch.status == status)
    if after is not None:
        stmt = stmt.where(
            (PayoutBatch.created_at < after.created_at)
            | (
                (PayoutBatch.created_at == after.created_at)
                & (PayoutBatch.batch_id < after.batch_id)
            )
        )
    stmt = stmt.order_by(PayoutBatch.created_at.desc(), PayoutBatch.batch_id.desc()).limit(limit)
    return list((await session.execute(stmt)).scalars())
