"""Use cases for sales facts: validate, store, publish (flush, never commit)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.db import people_table
from zhanli_commission.sales import repository
from zhanli_commission.sales.models import Deal, Payment
from zhanli_commission.sales.schemas import DealCreate, PaymentCreate
from zhanli_commission.settings import CommissionSettings
from zhanli_shared import audit
from zhanli_shared.auth import Principal
from zhanli_shared.db import utcnow
from zhanli_shared.directory import PeopleProjection
from zhanli_shared.errors import Conflict, Unprocessable
from zhanli_shared.events.contracts.sales import DealRecorded, PaymentReceived
from zhanli_shared.events.outbox import Publisher

people = PeopleProjection(people_table)
CENT = Decimal("0.01")


def _money(value: Decimal | int) -> Decimal:
    return Decimal(value).quantize(CENT)


async def record_deal(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    data: DealCreate,
    *,
    actor: Principal | str = "system",
    source_ip: str | None = None,
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
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="sales.deal.recorded",
        entity_type="deal",
        entity_id=deal.deal_id,
        before=None,
        after={
            "salesperson_id": deal.salesperson_id,
            "customer_name": deal.customer_name,
            "amount": _money(deal.amount),
            "collected": _money(deal.collected),
            "currency": deal.currency,
            "product_line": deal.product_line,
            "closed_at": deal.closed_at,
            "source": deal.source,
        },
        source_ip=source_ip,
    )
    return deal


async def record_payment(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    data: PaymentCreate,
    *,
    actor: Principal | str = "system",
    source_ip: str | None = None,
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
    collected_before = _money(deal.collected)
    deal.collected = deal.collected + data.amount
    session.add(payment)
    await session.flush()
    await publisher.publish(
        session, PaymentReceived(salesperson_id=deal.salesperson_id, **data.model_dump())
    )
    # The money the payment moves: the deal's collected and outstanding amounts.
    amount = _money(deal.amount)
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="sales.payment.recorded",
        entity_type="payment",
        entity_id=payment.payment_id,
        before={
            "deal_id": deal.deal_id,
            "deal_collected": collected_before,
            "deal_outstanding": amount - collected_before,
        },
        after={
            "deal_id": deal.deal_id,
            "salesperson_id": deal.salesperson_id,
            "amount": _money(payment.amount),
            "currency": payment.currency,
            "paid_at": payment.paid_at,
            "source": payment.source,
            "deal_collected": _money(deal.collected),
            "deal_outstanding": amount - _money(deal.collected),
        },
        source_ip=source_ip,
    )
    return payment
