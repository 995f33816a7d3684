"""Use cases for sales facts: validate, store, publish (flush, never commit)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.core.splits import SplitError, check_shares
from zhanli_commission.db import people_table
from zhanli_commission.sales import repository
from zhanli_commission.sales.models import Deal, DealSplit, Payment, Refund
from zhanli_commission.sales.schemas import (
    DealCancel,
    DealCreate,
    DealRead,
    PaymentCreate,
    RefundCreate,
    SplitIn,
)
from zhanli_commission.settings import CommissionSettings
from zhanli_shared import audit
from zhanli_shared.auth import Principal
from zhanli_shared.db import utcnow
from zhanli_shared.directory import PeopleProjection
from zhanli_shared.errors import Conflict, NotFound, Unprocessable
from zhanli_shared.events.contracts.sales import (
    DealCancelled,
    DealRecorded,
    PaymentReceived,
    RefundIssued,
    SplitShare,
)
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
    if data.margin is not None and data.margin > data.amount:
        raise Unprocessable("The margin cannot exceed the deal amount.", field="margin")
    await _check_splits(session, data.splits)
    deal = Deal(
        **data.model_dump(exclude={"splits"}),
        collected=0,
        refunded=Decimal("0.00"),
        status="open",
        created_at=utcnow(),
    )
    session.add(deal)
    await session.flush()
    for i, split in enumerate(data.splits or []):
        session.add(
            DealSplit(
                deal_id=deal.deal_id,
                salesperson_id=split.salesperson_id,
                share=split.share,
                position=i,
            )
        )
    await session.flush()
    await publisher.publish(
        session,
        DealRecorded(
            **data.model_dump(exclude={"splits"}),
            splits=[SplitShare(**s.model_dump()) for s in data.splits] if data.splits else None,
        ),
    )
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
            "margin": deal.margin,
            "splits": [s.model_dump() for s in data.splits] if data.splits else None,
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
    if deal.status == "cancelled":
        raise Unprocessable(
            f"Deal {deal.deal_id!r} was cancelled: its unpaid instalments were cancelled.",
            field="deal_id",
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


async def _check_splits(session: AsyncSession, splits: list[SplitIn] | None) -> None:
    if not splits:
        return
    ids = [s.salesperson_id for s in splits]
    if len(set(ids)) != len(ids):
        raise Unprocessable("A person appears twice in the split.", field="splits")
    try:
        check_shares([s.share for s in splits])
    except SplitError as exc:
        raise Unprocessable(f"Split shares: {exc}.", field="splits") from exc
    for i, split in enumerate(splits):
        person = await people.get(session, split.salesperson_id)
        if person is None:
            raise Unprocessable(
                f"Unknown salesperson {split.salesperson_id!r}.",
                field=f"splits[{i}].salesperson_id",
            )


async def deal_read(session: AsyncSession, deal: Deal) -> DealRead:
    splits = await repository.splits_of(session, deal.deal_id)
    read = DealRead.model_validate(deal)
    return read.model_copy(
        update={"splits": [SplitIn(salesperson_id=s.salesperson_id, share=s.share) for s in splits]}
    )


async def record_refund(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    data: RefundCreate,
    *,
    actor: Principal | str = "system",
    source_ip: str | None = None,
) -> Refund:
    """Money returned to the customer: claws back by the plan's windows."""
    if await session.get(Refund, data.refund_id) is not None:
        raise Conflict(f"Refund {data.refund_id!r} already exists.", field="refund_id")
    deal = await repository.get_deal(session, data.deal_id, for_update=True)
    if deal is None:
        raise Unprocessable(f"Unknown deal {data.deal_id!r}.", field="deal_id")
    if data.currency != deal.currency:
        raise Unprocessable(
            f"Currency {data.currency} does not match the deal's {deal.currency}.", field="currency"
        )
    refundable = deal.collected - deal.refunded
    if data.amount > refundable:
        raise Unprocessable(
            f"Refund {data.amount} exceeds the money collected and not yet refunded "
            f"({refundable}).",
            field="amount",
        )
    if data.refunded_at < deal.closed_at:
        raise Unprocessable("A refund cannot precede the deal's close.", field="refunded_at")
    before = {"deal_refunded": _money(deal.refunded)}
    deal.refunded = deal.refunded + data.amount
    refund = Refund(**data.model_dump(), salesperson_id=deal.salesperson_id, created_at=utcnow())
    session.add(refund)
    await session.flush()
    await publisher.publish(
        session, RefundIssued(salesperson_id=deal.salesperson_id, **data.model_dump())
    )
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="sales.refund.recorded",
        entity_type="refund",
        entity_id=refund.refund_id,
        before=before,
        after={
            "deal_id": deal.deal_id,
            "amount": _money(refund.amount),
            "refunded_at": refund.refunded_at,
            "reason": refund.reason,
            "deal_refunded": _money(deal.refunded),
        },
        source_ip=source_ip,
    )
    return refund


async def cancel_deal(
    session: AsyncSession,
    publisher: Publisher,
    deal_id: str,
    data: DealCancel,
    *,
    actor: Principal | str = "system",
    source_ip: str | None = None,
) -> Deal:
    """Cancel the unpaid instalments; money already collected is reversed by refunds."""
    deal = await repository.get_deal(session, deal_id, for_update=True)
    if deal is None:
        raise NotFound(f"Deal {deal_id!r} not found.")
    if deal.status == "cancelled":
        raise Conflict(f"Deal {deal_id!r} is already cancelled.", field="deal_id")
    if data.cancelled_at < deal.closed_at:
        raise Unprocessable("A cancellation cannot precede the deal's close.", field="cancelled_at")
    unpaid = _money(deal.amount - deal.collected)
    deal.status = "cancelled"
    deal.cancelled_at = data.cancelled_at
    await session.flush()
    await publisher.publish(
        session,
        DealCancelled(
            deal_id=deal_id,
            salesperson_id=deal.salesperson_id,
            cancelled_at=data.cancelled_at,
            unpaid_amount=unpaid,
            reason=data.reason,
            source=data.source,
        ),
    )
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="sales.deal.cancelled",
        entity_type="deal",
        entity_id=deal_id,
        before={"status": "open", "unpaid": unpaid},
        after={"status": "cancelled", "cancelled_at": data.cancelled_at, "reason": data.reason},
        source_ip=source_ip,
    )
    return deal
