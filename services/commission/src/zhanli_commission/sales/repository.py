"""Every query of deals and payments."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from sqlalchemy import String, Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.sales.models import Deal, DealSplit, Payment, Refund
from zhanli_shared.db import bulk_insert, one_of, table_of

IN_CHUNK = 1000


async def get_deal(session: AsyncSession, deal_id: str, *, for_update: bool = False) -> Deal | None:
    """A deal; ``for_update`` locks it and reads it again (never a stale copy)."""
    stmt = select(Deal).where(Deal.deal_id == deal_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


@dataclass(slots=True)
class LockedDeal:
    """A deal's figures, locked for recording facts in bulk (``store_facts`` writes them)."""

    deal_id: str
    salesperson_id: str
    amount: Decimal
    collected: Decimal
    refunded: Decimal
    currency: str
    status: str
    closed_at: dt.datetime
    cancelled_at: dt.datetime | None


_DEAL = table_of(Deal)
_LOCKED = tuple(_DEAL.c[f.name] for f in fields(LockedDeal))


async def lock_deals(session: AsyncSession, deal_ids: Sequence[str]) -> dict[str, LockedDeal]:
    """The deals of ``deal_ids`` (sorted), locked in that order, read as committed."""
    conn = await session.connection()
    out: dict[str, LockedDeal] = {}
    for i in range(0, len(deal_ids), IN_CHUNK):
        stmt = (
            select(*_LOCKED)
            .where(one_of(_DEAL.c.deal_id, deal_ids[i : i + IN_CHUNK], conn.dialect.name))
            .order_by(_DEAL.c.deal_id)
            .with_for_update()
        )
        out.update((r.deal_id, LockedDeal(*r)) for r in (await conn.execute(stmt)).all())
    return out


async def _rows_by_id(
    session: AsyncSession, table: Table, key: str, columns: Sequence[str], ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    conn = await session.connection()
    ids = sorted(set(ids))
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ids), IN_CHUNK):
        stmt = select(*(table.c[c] for c in columns)).where(
            one_of(table.c[key], ids[i : i + IN_CHUNK], conn.dialect.name)
        )
        out.update((r[key], dict(r)) for r in (await conn.execute(stmt)).mappings())
    return out


async def payments_by_id(session: AsyncSession, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Stored payments of ``ids``: what a repeated fact is compared with."""
    columns = ("payment_id", "deal_id", "amount", "paid_at")
    return await _rows_by_id(session, table_of(Payment), "payment_id", columns, ids)


async def refunds_by_id(session: AsyncSession, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    columns = ("refund_id", "deal_id", "amount", "refunded_at")
    return await _rows_by_id(session, table_of(Refund), "refund_id", columns, ids)


_MOVE_DEAL = (
    update(_DEAL)
    .where(_DEAL.c.deal_id == bindparam("b_deal", type_=String()))
    .values(
        {
            name: bindparam(name, type_=_DEAL.c[name].type)
            for name in ("collected", "refunded", "status", "cancelled_at")
        }
    )
)


async def store_facts(
    session: AsyncSession,
    payments: list[dict[str, Any]],
    refunds: list[dict[str, Any]],
    deals: list[LockedDeal],
) -> None:
    """Write recorded facts in bulk: the payments, the refunds, the deals' new figures."""
    conn = await session.connection()
    await bulk_insert(conn, table_of(Payment), payments)
    await bulk_insert(conn, table_of(Refund), refunds)
    if deals:
        await conn.execute(
            _MOVE_DEAL,
            [
                {
                    "b_deal": d.deal_id,
                    "collected": d.collected,
                    "refunded": d.refunded,
                    "status": d.status,
                    "cancelled_at": d.cancelled_at,
                }
                for d in deals
            ],
        )


async def get_payment(session: AsyncSession, payment_id: str) -> Payment | None:
    return await session.get(Payment, payment_id)


async def splits_of(session: AsyncSession, deal_id: str) -> list[DealSplit]:
    stmt = select(DealSplit).where(DealSplit.deal_id == deal_id).order_by(DealSplit.position)
    return list((await session.execute(stmt)).scalars())
