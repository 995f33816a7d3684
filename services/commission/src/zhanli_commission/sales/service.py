"""Use cases for sales facts: validate, store, publish (flush, never commit)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.db import people_table
from zhanli_commission.sales import repository
from zhanli_commission.sales.models import Deal, Payment
from zhanli_commission.sales.schemas import DealCreate, PaymentCreate
from zhanli_commission.settings import CommissionSettings
from zhanli_shared.db import utcnow
from zhanli_shared.directory import PeopleProjection
from zhanli_shared.errors import Conflict, Unprocessable
from zhanli_shared.events.contracts.sales import DealRecorded, PaymentReceived
from zhanli_shared.events.outbox import Publisher

people = PeopleProjection(people_table)


async def record_deal(
    session: AsyncSession, publisher: Publisher, settings: CommissionSettings, data: DealCreate
) -> Deal:
    if data.amount > settings.max_amount:
        raise Unprocessable(
            f"Amount exceeds the largest accepted deal ({settings.max_amount}).", field="amount"
        )
    if data.currency != settings.currency:
        raise Unprocessable(
            f"Currency {data.currency} does not match the company currency {settings.currency}.",
            field="currency",
        )
    person = await people.get(session, data.salesperson_id)
    if person is None:
        raise Unprocessable(f"Unknown salesperson {data.salesperson_id!r}.", field="salesperson_id")
    if person.status == "left":
        raise Unprocessable(
            f"Salesperson {data.salesperson_id!r} has left the company.", field="salesperson_id"
        )
    if await repository.get_deal(session, data.deal_id) is not None:
        raise Conflict(f"Deal {data.deal_id!r} already exists.", field="deal_id")
    deal = Deal(**data.model_dump(), collected=0, created_at=utcnow())
    session.add(deal)
    await session.flush()
    await publisher.publish(session, DealRecorded(**data.model_dump()))
    return deal


async def record_payment(
    session: AsyncSession, publisher: Publisher, settings: CommissionSettings, data: PaymentCreate
) -> Payment:
    if await repository.get_payment(session, data.payment_id) is not None:
        raise Conflict(f"Payment {data.payment_id!r} already exists.", field="payment_id")
    deal = await repository.get_deal(session, data.deal_id, for_update=True)
    if deal is None:
        raise Unprocessable(
            f"Unknown deal {data.deal_id!r}: record the deal first.", field="deal_id"
        )
    if data.currency != deal.currency:
        raise Unprocessable(
            f"Currency {data.currency} does not match the deal's {deal.currency}.", field="currency"
        )
    outstanding = deal.amount - deal.collected
    if data.amount > outstanding:
        raise Unprocessable(
            f"Payment {data.amount} exceeds what is still owed on the deal ({outstanding}).",
            field="amount",
        )
    payment = Payment(**data.model_dump(), salesperson_id=deal.salesperson_id, created_at=utcnow())
    deal.collected = deal.collected + data.amount
    session.add(payment)
    await session.flush()
    await publisher.publish(
        session, PaymentReceived(salesperson_id=deal.salesperson_id, **data.model_dump())
    )
    return payment
