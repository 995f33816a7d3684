"""Every query of deals and payments."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from sqlalchemy import String, Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.db import people_table
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


async def deal_facts(
    session: AsyncSession, ids: Sequence[str]
) -> dict[str, tuple[str, Decimal, str, dt.datetime]]:
    """(salesperson, amount, currency, closed_at) of the stored deals of ``ids``: what a
    deal sent again is compared with."""
    columns = ("deal_id", "salesperson_id", "amount", "currency", "closed_at")
    rows = await _rows_by_id(session, _DEAL, "deal_id", columns, ids)
    return {
        k: (r["salesperson_id"], r["amount"], r["currency"], r["closed_at"])
        for k, r in rows.items()
    }


async def get_payment(session: AsyncSession, payment_id: str) -> Payment | None:
    return await session.get(Payment, payment_id)


_SPLITS = table_of(DealSplit)
# One statement, built once, for the read of a deal: the deal, its salesperson's org path
# (the authorisation check) and its splits (a row each, in order), Core rows, no ORM.
_DEAL_VIEW = (
    select(
        *_DEAL.c,
        people_table.c.org_path.label("person_org_path"),
        people_table.c.employee_id.label("person_id"),
        _SPLITS.c.salesperson_id.label("split_salesperson_id"),
        _SPLITS.c.share.label("split_share"),
    )
    .select_from(
        _DEAL.outerjoin(
            people_table, people_table.c.employee_id == _DEAL.c.salesperson_id
        ).outerjoin(_SPLITS, _SPLITS.c.deal_id == _DEAL.c.deal_id)
    )
    .where(_DEAL.c.deal_id == bindparam("b_deal_id", type_=String()))
    .order_by(_SPLITS.c.position)
)
_DEAL_COLUMNS = tuple(c.name for c in _DEAL.c)


@dataclass(slots=True)
class DealView:
    """A deal as read back: its columns, its salesperson's org path (None when the person
    is not in the directory projection) and its splits (salesperson, share) in order."""

    deal: dict[str, Any]
    org_path: list[str] | None
    splits: list[tuple[str, Decimal]]


async def deal_view(session: AsyncSession, deal_id: str) -> DealView | None:
    conn = await session.connection()
    rows = (await conn.execute(_DEAL_VIEW, {"b_deal_id": deal_id})).mappings().all()
    if not rows:
        return None
    first = rows[0]
    return DealView(
        deal={c: first[c] for c in _DEAL_COLUMNS},
        org_path=list(first["person_org_path"]) if first["person_id"] is not None else None,
        splits=[
            (r["split_salesperson_id"], r["split_share"])
            for r in rows
            if r["split_salesperson_id"] is not None
        ],
    )


async def splits_of(session: AsyncSession, deal_id: str) -> list[DealSplit]:
    stmt = select(DealSplit).where(DealSplit.deal_id == deal_id).order_by(DealSplit.position)
    return list((await session.execute(stmt)).scalars())
