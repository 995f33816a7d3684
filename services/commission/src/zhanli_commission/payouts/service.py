"""Payout batches: every payable statement of a period (or of one unit) paid as statement
total + carried balance, never below zero; a negative result is carried to the next payout
(``core.draws.payout_split``). Marking a batch paid moves its statements to ``paid``."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.core.draws import payout_split
from zhanli_commission.settings import CommissionSettings
from zhanli_commission.statements import repository
from zhanli_commission.statements.models import (
    PAID,
    PAYABLE,
    PayoutBatch,
    PayoutItem,
)
from zhanli_commission.statements.service import (
    ZERO,
    locked_balance,
    sums_of,
    transition,
)
from zhanli_shared import audit
from zhanli_shared.auth import Principal
from zhanli_shared.db import utcnow
from zhanli_shared.errors import Conflict, NotFound
from zhanli_shared.events.contracts.commission import (
    PayoutBatchCreated,
)
from zhanli_shared.events.contracts.commission import PayoutItem as PayoutItemEvent
from zhanli_shared.events.outbox import Publisher
from zhanli_shared.money import FEN


def _money(value: Decimal) -> Decimal:
    return Decimal(value).quantize(FEN)


async def create_batch(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    period: str,
    org_unit_id: str | None,
    *,
    actor: Principal,
    source_ip: str | None = None,
) -> PayoutBatch:
    statements = await repository.statements_of_period(session, period, PAYABLE, for_update=True)
    who = await repository.people_by_id(session, [s.salesperson_id for s in statements])
    if org_unit_id is not None:
        statements = [
            s
            for s in statements
            if s.salesperson_id in who and org_unit_id in who[s.salesperson_id].org_path
        ]
    if not statements:
        raise Conflict(f"No finance-approved statement of {period} is waiting for a payout.")
    now = utcnow()
    batch = PayoutBatch(
        batch_id=f"PB-{period}-{uuid.uuid4().hex[:10]}",
        period=period,
        org_unit_id=org_unit_id,
        status="created",
        currency=settings.currency,
        total_amount=ZERO,
        items=len(statements),
        created_at=now,
        created_by=actor.subject,
    )
    session.add(batch)
    await session.flush()
    items: list[PayoutItem] = []
    for st in statements:
        earnings, draws = sums_of(
            await repository.lines_of_period(session, st.salesperson_id, period)
        )
        bal = await locked_balance(session, st.salesperson_id)
        carried_in = bal.carried_balance
        amount, carried_out = payout_split(earnings + draws, carried_in)
        bal.carried_balance = carried_out
        bal.updated_at = now
        person = who.get(st.salesperson_id)
        item = PayoutItem(
            batch_id=batch.batch_id,
            salesperson_id=st.salesperson_id,
            period=period,
            name=person.name if person else st.salesperson_id,
            org_unit_id=person.org_unit_id if person else st.org_unit_id,
            statement_total=earnings + draws,
            draw_total=draws,
            carried_in=carried_in,
            amount=amount,
            carried_out=carried_out,
            currency=st.currency,
        )
        session.add(item)
        items.append(item)
        st.payout_batch_id = batch.batch_id
        st.updated_at = now
    batch.total_amount = _money(sum((i.amount for i in items), ZERO))
    await session.flush()
    summary = [
        {
            "salesperson_id": i.salesperson_id,
            "statement_total": i.statement_total,
            "carried_in": i.carried_in,
            "amount": i.amount,
            "carried_out": i.carried_out,
        }
        for i in items
    ]
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="commission.payout_batch.created",
        entity_type="commission_payout_batch",
        entity_id=batch.batch_id,
        before=None,
        after={
            "period": period,
            "org_unit_id": org_unit_id,
            "total_amount": batch.total_amount,
            "items": summary,
        },
        source_ip=source_ip,
    )
    await publisher.publish(
        session,
        PayoutBatchCreated(
            batch_id=batch.batch_id,
            period=period,
            org_unit_id=org_unit_id,
            currency=batch.currency,
            total_amount=batch.total_amount,
            items=[
                PayoutItemEvent(
                    salesperson_id=i.salesperson_id,
                    amount=i.amount,
                    statement_total=i.statement_total,
                    carried_in=i.carried_in,
                    carried_out=i.carried_out,
                )
                for i in items
            ],
            created_by=actor.subject,
            created_at=now,
        ),
    )
    return batch


async def get_batch(session: AsyncSession, batch_id: str) -> tuple[PayoutBatch, list[PayoutItem]]:
    batch = await repository.get_batch(session, batch_id)
    if batch is None:
        raise NotFound(f"Payout batch {batch_id!r} not found.")
    return batch, await repository.items_of_batch(session, batch_id)


async def mark_paid(
    session: AsyncSession,
    publisher: Publisher,
    batch_id: str,
    payment_reference: str | None,
    *,
    actor: Principal,
    source_ip: str | None = None,
) -> PayoutBatch:
    batch = await repository.get_batch(session, batch_id, for_update=True)
    if batch is None:
        raise NotFound(f"Payout batch {batch_id!r} not found.")
    if batch.status != "created":
        raise Conflict(f"Payout batch {batch_id!r} is already {batch.status}.")
    now = utcnow()
    batch.status, batch.paid_at, batch.paid_by = "paid", now, actor.subject
    batch.payment_reference = payment_reference
    items = {i.salesperson_id: i for i in await repository.items_of_batch(session, batch_id)}
    for st in await repository.statements_of_batch(session, batch_id, for_update=True):
        st.paid_at = now
        item = items.get(st.salesperson_id)
        await transition(
            session,
            publisher,
            st,
            to=PAID,
            action="pay",
            actor=actor,
            total=item.statement_total if item else ZERO,
            comment=payment_reference,
            source_ip=source_ip,
            audit_after={"paid": item.amount if item else ZERO, "payout_batch_id": batch_id},
        )
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="commission.payout_batch.paid",
        entity_type="commission_payout_batch",
        entity_id=batch_id,
        before={"status": "created", "total_amount": batch.total_amount},
        after={
            "status": "paid",
            "total_amount": batch.total_amount,
            "payment_reference": payment_reference,
        },
        source_ip=source_ip,
    )
    return batch
