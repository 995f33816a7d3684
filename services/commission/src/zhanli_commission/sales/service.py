"""Use cases for sales facts: validate, store, publish (flush, never commit).

One record of each fact, whichever door it came in by. A deal, payment, refund or
cancellation posted through the API is checked, stored and published here; one pushed
onto the bus by another system (a CRM connector) is checked and stored by the same rules
when the commission consumer takes it (``record_deal_event``, ``record_fact_events``),
and the event of a fact this service recorded itself is recognised as the same fact.
The checks are one set for both doors: what is still owed on the deal, what can be
refunded, a cancelled deal takes no more money, and an id already used for another fact
is refused. A fact refused on the bus fails its handler: the consumer dead-letters it
with the reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, TypeAlias

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.core.splits import SplitError, check_shares
from zhanli_commission.db import people_table
from zhanli_commission.sales import repository
from zhanli_commission.sales.models import Deal, DealSplit, Payment, Refund
from zhanli_commission.sales.repository import DealView, LockedDeal
from zhanli_commission.sales.schemas import (
    CancellationCreate,
    DealCancel,
    DealCreate,
    DealRead,
    PaymentCreate,
    RefundCreate,
    SplitIn,
)
from zhanli_commission.settings import CommissionSettings
from zhanli_shared import audit, batch
from zhanli_shared.audit import build as audit_event
from zhanli_shared.auth import Principal
from zhanli_shared.db import utcnow
from zhanli_shared.directory import PeopleProjection
from zhanli_shared.errors import Conflict, NotFound, ProblemError, Unprocessable
from zhanli_shared.events.contracts.base import EventContract
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


SERVICE = "commission"
SalesFactEvent: TypeAlias = PaymentReceived | RefundIssued | DealCancelled

# --- the checks both doors share ------------------------------------------------------------


class DealState(Protocol):
    """What recording reads and moves of a deal (the ORM row, or ``LockedDeal``)."""

    deal_id: str
    salesperson_id: str
    amount: Decimal
    collected: Decimal
    refunded: Decimal
    currency: str
    status: str
    closed_at: dt.datetime
    cancelled_at: dt.datetime | None


def check_new_deal(
    settings: CommissionSettings,
    *,
    amount: Decimal,
    currency: str,
    margin: Decimal | None,
) -> None:
    if amount <= 0:
        raise Unprocessable("A deal's amount must be positive.", field="amount")
    if amount > settings.max_amount:
        raise Unprocessable(
            f"Amount exceeds the largest accepted deal ({settings.max_amount}).", field="amount"
        )
    if currency != settings.currency:
        raise Unprocessable(
            f"Currency {currency} does not match the company currency {settings.currency}.",
            field="currency",
        )
    if margin is not None and (margin < 0 or margin > amount):
        raise Unprocessable("The margin cannot exceed the deal amount.", field="margin")


def check_payment(deal: DealState, amount: Decimal, currency: str) -> None:
    """Money collected on a deal: in its currency, while it is open, never more than owed."""
    if amount <= 0:
        raise Unprocessable("A payment's amount must be positive.", field="amount")
    if currency != deal.currency:
        raise Unprocessable(
            f"Currency {currency} does not match the deal's {deal.currency}.", field="currency"
        )
    if deal.status == "cancelled":
        raise Unprocessable(
            f"Deal {deal.deal_id!r} was cancelled: its unpaid instalments were cancelled.",
            field="deal_id",
        )
    outstanding = deal.amount - deal.collected
    if amount > outstanding:
        raise Unprocessable(
            f"Payment {amount} exceeds what is still owed on the deal ({_money(outstanding)}).",
            field="amount",
        )


def check_refund(deal: DealState, amount: Decimal, currency: str, refunded_at: dt.datetime) -> None:
    """Money returned: in the deal's currency, never more than collected and not refunded."""
    if amount <= 0:
        raise Unprocessable("A refund's amount must be positive.", field="amount")
    if currency != deal.currency:
        raise Unprocessable(
            f"Currency {currency} does not match the deal's {deal.currency}.", field="currency"
        )
    refundable = deal.collected - deal.refunded
    if amount > refundable:
        raise Unprocessable(
            f"Refund {amount} exceeds the money collected and not yet refunded "
            f"({_money(refundable)}).",
            field="amount",
        )
    if refunded_at < deal.closed_at:
        raise Unprocessable("A refund cannot precede the deal's close.", field="refunded_at")


def check_cancellation(deal: DealState, cancelled_at: dt.datetime) -> None:
    if deal.status == "cancelled":
        raise Conflict(f"Deal {deal.deal_id!r} is already cancelled.", field="deal_id")
    if cancelled_at < deal.closed_at:
        raise Unprocessable("A cancellation cannot precede the deal's close.", field="cancelled_at")


def _take_payment(
    deal: DealState, data: PaymentCreate | PaymentReceived
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check and book a payment on a locked deal: (the payment's row, the audit's before)."""
    check_payment(deal, data.amount, data.currency)
    before = {
        "deal_id": deal.deal_id,
        "deal_collected": _money(deal.collected),
        "deal_outstanding": _money(deal.amount - deal.collected),
    }
    deal.collected = deal.collected + data.amount
    row = {
        "payment_id": data.payment_id,
        "deal_id": deal.deal_id,
        "salesperson_id": deal.salesperson_id,
        "amount": data.amount,
        "currency": data.currency,
        "paid_at": data.paid_at,
        "source": data.source[:20],
        "created_at": utcnow(),
    }
    return row, before


def _payment_after(deal: DealState, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "deal_id": deal.deal_id,
        "salesperson_id": deal.salesperson_id,
        "amount": _money(row["amount"]),
        "currency": row["currency"],
        "paid_at": row["paid_at"],
        "source": row["source"],
        "deal_collected": _money(deal.collected),
        "deal_outstanding": _money(deal.amount) - _money(deal.collected),
    }


def _take_refund(
    deal: DealState, data: RefundCreate | RefundIssued
) -> tuple[dict[str, Any], Decimal]:
    """Check and book a refund on a locked deal: (the refund's row, refunded before)."""
    check_refund(deal, data.amount, data.currency, data.refunded_at)
    before = _money(deal.refunded)
    deal.refunded = deal.refunded + data.amount
    row = {
        "refund_id": data.refund_id,
        "deal_id": deal.deal_id,
        "salesperson_id": deal.salesperson_id,
        "amount": data.amount,
        "currency": data.currency,
        "refunded_at": data.refunded_at,
        "reason": data.reason[:500] if data.reason else None,
        "source": data.source[:20],
        "created_at": utcnow(),
    }
    return row, before


def _refund_after(deal: DealState, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "deal_id": deal.deal_id,
        "amount": _money(row["amount"]),
        "refunded_at": row["refunded_at"],
        "reason": row["reason"],
        "deal_refunded": _money(deal.refunded),
    }


def _take_cancellation(deal: DealState, cancelled_at: dt.datetime) -> Decimal:
    """Check and book a cancellation on a locked deal: the unpaid amount it cancels."""
    check_cancellation(deal, cancelled_at)
    deal.status = "cancelled"
    deal.cancelled_at = cancelled_at
    return unpaid_of(deal)


def unpaid_of(deal: DealState) -> Decimal:
    """What a cancellation cancelled: nothing is collected on a cancelled deal, so this
    stays what it was when the deal was cancelled."""
    return _money(deal.amount - deal.collected)


# --- the API door ------------------------------------------------------------------------------


async def record_deal(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    data: DealCreate,
    *,
    actor: Principal | str = "system",
    source_ip: str | None = None,
) -> Deal:
    check_new_deal(settings, amount=data.amount, currency=data.currency, margin=data.margin)
    person = await people.get(session, data.salesperson_id)
    if person is None:
        raise Unprocessable(f"Unknown salesperson {data.salesperson_id!r}.", field="salesperson_id")
    if person.status == "left":
        raise Unprocessable(
            f"Salesperson {data.salesperson_id!r} has left the company.", field="salesperson_id"
        )
    if await repository.get_deal(session, data.deal_id) is not None:
        raise Conflict(f"Deal {data.deal_id!r} already exists.", field="deal_id")
    await _check_splits(session, data.splits)
    event = DealRecorded(
        **data.model_dump(exclude={"splits"}),
        splits=[SplitShare(**s.model_dump()) for s in data.splits] if data.splits else None,
    )
    deal = _store_deal(session, event)
    await session.flush()
    await publisher.publish(session, event)
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="sales.deal.recorded",
        entity_type="deal",
        entity_id=deal.deal_id,
        before=None,
        after=_deal_after(deal, event),
        source_ip=source_ip,
    )
    return deal


def _store_deal(session: AsyncSession, event: DealRecorded) -> Deal:
    deal = Deal(
        deal_id=event.deal_id,
        salesperson_id=event.salesperson_id,
        customer_name=event.customer_name[:200],
        amount=event.amount,
        collected=Decimal("0.00"),
        currency=event.currency,
        product_line=event.product_line,
        closed_at=event.closed_at,
        source=event.source[:20],
        created_at=utcnow(),
        margin=event.margin,
        refunded=Decimal("0.00"),
        status="open",
    )
    session.add(deal)
    for i, split in enumerate(event.splits or []):
        session.add(
            DealSplit(
                deal_id=event.deal_id,
                salesperson_id=split.salesperson_id,
                share=split.share,
                position=i,
            )
        )
    return deal


def _deal_after(deal: Deal, event: DealRecorded) -> dict[str, object]:
    return {
        "salesperson_id": deal.salesperson_id,
        "customer_name": deal.customer_name,
        "amount": _money(deal.amount),
        "collected": _money(deal.collected),
        "currency": deal.currency,
        "product_line": deal.product_line,
        "closed_at": deal.closed_at,
        "source": deal.source,
        "margin": deal.margin,
        "splits": [s.model_dump() for s in event.splits] if event.splits else None,
    }


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
    row, before = _take_payment(deal, data)
    payment = Payment(**row)
    session.add(payment)
    await session.flush()
    await publisher.publish(
        session, PaymentReceived(salesperson_id=deal.salesperson_id, **data.model_dump())
    )
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="sales.payment.recorded",
        entity_type="payment",
        entity_id=payment.payment_id,
        before=before,
        after=_payment_after(deal, row),
        source_ip=source_ip,
    )
    return payment


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
    row, refunded_before = _take_refund(deal, data)
    refund = Refund(**row)
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
        before={"deal_refunded": refunded_before},
        after=_refund_after(deal, row),
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
    unpaid = _take_cancellation(deal, data.cancelled_at)
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


# --- the bus door ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedFact:
    """A sales fact as recorded, as the ledger credits it (refunds and cancellations
    negative; a cancellation's amount is the unpaid part it cancelled)."""

    deal_id: str
    kind: str  # payment, refund, cancellation
    fact_id: str
    amount: Decimal
    occurred_at: dt.datetime


async def record_deal_event(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    event: DealRecorded,
    *,
    actor: str,
) -> Deal:
    """A deal from the bus: the event of one recorded here is the same deal; another
    system's is checked and stored as the API would (the people on it may not be in the
    directory yet: they are priced when they arrive). The same id for another deal is
    refused."""
    deal = await repository.get_deal(session, event.deal_id)
    if deal is not None:
        same = (
            deal.salesperson_id == event.salesperson_id
            and deal.amount == event.amount
            and deal.currency == event.currency
            and deal.closed_at == event.closed_at
        )
        if not same:
            raise Conflict(
                f"Deal {event.deal_id!r} already exists with other facts.", field="deal_id"
            )
        return deal
    check_new_deal(settings, amount=event.amount, currency=event.currency, margin=event.margin)
    if event.splits:
        ids = [s.salesperson_id for s in event.splits]
        if len(set(ids)) != len(ids):
            raise Unprocessable("A person appears twice in the split.", field="splits")
        try:
            check_shares([s.share for s in event.splits])
        except SplitError as exc:
            raise Unprocessable(f"Split shares: {exc}.", field="splits") from exc
    deal = _store_deal(session, event)
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="sales.deal.recorded",
        entity_type="deal",
        entity_id=deal.deal_id,
        before=None,
        after=_deal_after(deal, event),
    )
    return deal


async def record_fact_events(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    events: Sequence[tuple[SalesFactEvent, str]],
) -> list[RecordedFact | None]:
    """Payments, refunds and cancellations from the bus, in order, against their deals
    (locked): each is the fact this service recorded (its own event, or a repeat), or is
    checked and recorded as the API would, audited with its ``actor`` (the event's source,
    one audit fact per source and run);
    ``None`` where the deal is not known yet (the caller parks it). A fixed number of
    statements whatever the number of events. Raises ``Unprocessable``/``Conflict`` for a
    fact the rules refuse."""
    deals = await repository.lock_deals(session, sorted({e.deal_id for e, _ in events}))
    payments = await repository.payments_by_id(
        session, [e.payment_id for e, _ in events if isinstance(e, PaymentReceived)]
    )
    refunds = await repository.refunds_by_id(
        session, [e.refund_id for e, _ in events if isinstance(e, RefundIssued)]
    )
    out: list[RecordedFact | None] = []
    audited_by: dict[str, list[dict[str, Any]]] = {}
    new_payments: list[dict[str, Any]] = []
    new_refunds: list[dict[str, Any]] = []
    moved: dict[str, LockedDeal] = {}

    def audited(
        actor: str, action: str, entity_type: str, entity_id: str, before: Any, after: Any
    ) -> None:
        audited_by.setdefault(actor, []).append(
            {
                "action": action,
                "entity_type": entity_type,
                "entity_id": entity_id,
                "before": before,
                "after": after,
            }
        )

    for event, actor in events:
        deal = deals.get(event.deal_id)
        if deal is None:
            out.append(None)
            continue
        if isinstance(event, PaymentReceived):
            payment = payments.get(event.payment_id)
            if payment is None:
                payment, before = _take_payment(deal, event)
                new_payments.append(payment)
                payments[event.payment_id] = payment
                moved[deal.deal_id] = deal
                audited(
                    actor,
                    "sales.payment.recorded",
                    "payment",
                    event.payment_id,
                    before,
                    _payment_after(deal, payment),
                )
            elif (payment["deal_id"], payment["amount"], payment["paid_at"]) != (
                event.deal_id,
                event.amount,
                event.paid_at,
            ):
                raise Conflict(
                    f"Payment {event.payment_id!r} already exists with other facts.",
                    field="payment_id",
                )
            out.append(
                RecordedFact(
                    deal.deal_id,
                    "payment",
                    event.payment_id,
                    payment["amount"],
                    payment["paid_at"],
                )
            )
        elif isinstance(event, RefundIssued):
            refund = refunds.get(event.refund_id)
            if refund is None:
                refund, refunded_before = _take_refund(deal, event)
                new_refunds.append(refund)
                refunds[event.refund_id] = refund
                moved[deal.deal_id] = deal
                audited(
                    actor,
                    "sales.refund.recorded",
                    "refund",
                    event.refund_id,
                    {"deal_refunded": refunded_before},
                    _refund_after(deal, refund),
                )
            elif (refund["deal_id"], refund["amount"], refund["refunded_at"]) != (
                event.deal_id,
                event.amount,
                event.refunded_at,
            ):
                raise Conflict(
                    f"Refund {event.refund_id!r} already exists with other facts.",
                    field="refund_id",
                )
            out.append(
                RecordedFact(
                    deal.deal_id,
                    "refund",
                    event.refund_id,
                    -refund["amount"],
                    refund["refunded_at"],
                )
            )
        else:
            if deal.status == "cancelled":
                if deal.cancelled_at != event.cancelled_at:
                    raise Conflict(f"Deal {deal.deal_id!r} is already cancelled.", field="deal_id")
                unpaid = unpaid_of(deal)
            else:
                unpaid = _take_cancellation(deal, event.cancelled_at)
                moved[deal.deal_id] = deal
                audited(
                    actor,
                    "sales.deal.cancelled",
                    "deal",
                    deal.deal_id,
                    {"status": "open", "unpaid": unpaid},
                    {
                        "status": "cancelled",
                        "cancelled_at": event.cancelled_at,
                        "reason": event.reason,
                    },
                )
            out.append(
                RecordedFact(
                    deal.deal_id, "cancellation", deal.deal_id, -unpaid, event.cancelled_at
                )
            )
    await repository.store_facts(session, new_payments, new_refunds, list(moved.values()))
    await publisher.publish_many(
        session, [_audit_of_run(actor, facts) for actor, facts in audited_by.items()]
    )
    return out


def _audit_of_run(actor: str, facts: list[dict[str, Any]]) -> EventContract:
    """One fact: audited as the API audits it. A run of facts from one source: one audit
    fact listing each (its action, entity, and the money before and after), so a CRM's
    stream of thousands of payments costs the audit chain one entry per run."""
    if len(facts) == 1:
        return audit_event(actor=actor, service=SERVICE, **facts[0])
    return audit_event(
        actor=actor,
        action="sales.facts.recorded",
        entity_type="sales_facts",
        entity_id=f"{facts[0]['entity_id']}+{len(facts) - 1}",
        before=None,
        after={"count": len(facts), "facts": facts},
        service=SERVICE,
    )


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


def deal_view_read(view: DealView) -> DealRead:
    """The API shape of a deal read in one statement (``repository.deal_view``)."""
    return DealRead.model_validate(
        {
            **{k: v for k, v in view.deal.items() if k in DealRead.model_fields},
            "splits": [SplitIn(salesperson_id=p, share=share) for p, share in view.splits],
        }
    )


# --- the batch door (POST .../payments:batch, refunds:batch, cancellations:batch) ----------

AUDIT_CHUNK = 200  # facts per audit event of a batch (an event stays well under 1 MB)


@dataclass(frozen=True)
class FactOutcome:
    """What a batch made of one fact: ``created``, ``exists`` (the same fact again), or
    ``refused`` with the problem the single route answers."""

    status: str
    problem: ProblemError | None = None


async def record_fact_batch(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    items: Sequence[tuple[int, PaymentCreate | RefundCreate | CancellationCreate]],
    *,
    actor: Principal | str,
    source_ip: str | None = None,
) -> dict[int, FactOutcome]:
    """Payments, refunds and cancellations of one batch, checked one by one by the single
    routes' rules against their deals (read once, locked in id order), the accepted ones
    written together: a fixed number of statements whatever the number of items. A
    refused item writes nothing and moves no deal; an item already stored with the same
    facts (same source id) is ``exists``. Each new fact gets the event the single route
    publishes; the audit gets one fact per ``AUDIT_CHUNK`` facts of the batch."""
    deals = await repository.lock_deals(session, sorted({i.deal_id for _, i in items}))
    payments = await repository.payments_by_id(
        session, [i.payment_id for _, i in items if isinstance(i, PaymentCreate)]
    )
    refunds = await repository.refunds_by_id(
        session, [i.refund_id for _, i in items if isinstance(i, RefundCreate)]
    )
    out: dict[int, FactOutcome] = {}
    facts: list[dict[str, Any]] = []
    events: list[EventContract] = []
    new_payments: list[dict[str, Any]] = []
    new_refunds: list[dict[str, Any]] = []
    moved: dict[str, LockedDeal] = {}

    def fact(action: str, entity_type: str, entity_id: str, before: Any, after: Any) -> None:
        facts.append(
            {
                "action": action,
                "entity_type": entity_type,
                "entity_id": entity_id,
                "before": before,
                "after": after,
            }
        )

    for index, item in items:
        try:
            if isinstance(item, PaymentCreate):
                stored = payments.get(item.payment_id)
                if stored is not None:
                    same = (stored["deal_id"], stored["amount"], stored["paid_at"]) == (
                        item.deal_id,
                        item.amount,
                        item.paid_at,
                    )
                    if not same:
                        raise Conflict(
                            f"Payment {item.payment_id!r} already exists.", field="payment_id"
                        )
                    out[index] = FactOutcome("exists")
                    continue
                deal = deals.get(item.deal_id)
                if deal is None:
                    raise Unprocessable(
                        f"Unknown deal {item.deal_id!r}: record the deal first.", field="deal_id"
                    )
                row, before = _take_payment(deal, item)
                new_payments.append(row)
                payments[item.payment_id] = row
                moved[deal.deal_id] = deal
                events.append(
                    PaymentReceived(salesperson_id=deal.salesperson_id, **item.model_dump())
                )
                fact(
                    "sales.payment.recorded",
                    "payment",
                    item.payment_id,
                    before,
                    _payment_after(deal, row),
                )
            elif isinstance(item, RefundCreate):
                stored = refunds.get(item.refund_id)
                if stored is not None:
                    same = (stored["deal_id"], stored["amount"], stored["refunded_at"]) == (
                        item.deal_id,
                        item.amount,
                        item.refunded_at,
                    )
                    if not same:
                        raise Conflict(
                            f"Refund {item.refund_id!r} already exists.", field="refund_id"
                        )
                    out[index] = FactOutcome("exists")
                    continue
                deal = deals.get(item.deal_id)
                if deal is None:
                    raise Unprocessable(f"Unknown deal {item.deal_id!r}.", field="deal_id")
                row, refunded_before = _take_refund(deal, item)
                new_refunds.append(row)
                refunds[item.refund_id] = row
                moved[deal.deal_id] = deal
                events.append(RefundIssued(salesperson_id=deal.salesperson_id, **item.model_dump()))
                fact(
                    "sales.refund.recorded",
                    "refund",
                    item.refund_id,
                    {"deal_refunded": refunded_before},
                    _refund_after(deal, row),
                )
            else:
                deal = deals.get(item.deal_id)
                if deal is None:
                    raise NotFound(f"Deal {item.deal_id!r} not found.")
                if deal.status == "cancelled" and deal.cancelled_at == item.cancelled_at:
                    out[index] = FactOutcome("exists")
                    continue
                unpaid = _take_cancellation(deal, item.cancelled_at)
                moved[deal.deal_id] = deal
                events.append(
                    DealCancelled(
                        deal_id=deal.deal_id,
                        salesperson_id=deal.salesperson_id,
                        cancelled_at=item.cancelled_at,
                        unpaid_amount=unpaid,
                        reason=item.reason,
                        source=item.source,
                    )
                )
                fact(
                    "sales.deal.cancelled",
                    "deal",
                    deal.deal_id,
                    {"status": "open", "unpaid": unpaid},
                    {
                        "status": "cancelled",
                        "cancelled_at": item.cancelled_at,
                        "reason": item.reason,
                    },
                )
        except ProblemError as exc:
            out[index] = FactOutcome("refused", exc)
            continue
        out[index] = FactOutcome("created")
    await repository.store_facts(session, new_payments, new_refunds, list(moved.values()))
    audits: list[EventContract] = [
        audit_event(
            **_batch_audit(facts[i : i + AUDIT_CHUNK]),
            actor=actor,
            service=SERVICE,
            source_ip=source_ip,
        )
        for i in range(0, len(facts), AUDIT_CHUNK)
    ]
    await publisher.publish_many(session, [*events, *audits])
    return out


def _batch_audit(facts: list[dict[str, Any]]) -> dict[str, Any]:
    """One fact audited as the single route audits it; several as one entry listing each."""
    if len(facts) == 1:
        return facts[0]
    return {
        "action": "sales.facts.recorded",
        "entity_type": "sales_facts",
        "entity_id": f"{facts[0]['entity_id']}+{len(facts) - 1}",
        "before": None,
        "after": {"count": len(facts), "facts": facts},
    }


async def record_deal_batch(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    items: Sequence[tuple[int, DealCreate]],
    *,
    actor: Principal | str,
    source_ip: str | None = None,
) -> dict[int, FactOutcome]:
    """Deals of one batch, each recorded by the single route's use case in a savepoint of
    the request's transaction (a refused deal leaves nothing behind). A deal id already
    stored with the same facts (salesperson, amount, currency, close) is ``exists``."""
    stored = await repository.deal_facts(session, [d.deal_id for _, d in items])
    out: dict[int, FactOutcome] = {}
    for index, data in items:
        facts = (data.salesperson_id, data.amount, data.currency, data.closed_at)
        if stored.get(data.deal_id) == facts:
            out[index] = FactOutcome("exists")
            continue

        async def write(data: DealCreate = data) -> Deal:
            return await record_deal(
                session, publisher, settings, data, actor=actor, source_ip=source_ip
            )

        done = await batch.in_savepoint(session, write)
        if isinstance(done, ProblemError):
            out[index] = FactOutcome("refused", done)
        else:
            stored[data.deal_id] = facts
            out[index] = FactOutcome("created")
    return out
