"""The consumer's hot path: a run of sales facts credited and priced in one transaction
gives the statement fact-by-fact processing gives; on both databases."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal as D

from aiokafka.structs import ConsumerRecord
from sqlalchemy import insert, select

from zhanli_commission.commissions import handlers, repricing
from zhanli_commission.commissions.models import CommissionLine, PeriodTotal
from zhanli_commission.commissions.repricing import Fact
from zhanli_commission.sales.models import Deal, DealSplit
from zhanli_shared.db import utcnow
from zhanli_shared.events.consumer import ConsumerRunner, HandlerRegistry
from zhanli_shared.events.contracts.sales import DealRecorded, PaymentReceived
from zhanli_shared.events.envelope import CloudEvent
from zhanli_shared.events.outbox import Publisher
from zhanli_shared.testing.plugin import eventually
from zhanli_shared.testing.rows import outbox_rows_about

from .test_plans import TIERS_5_8_10, make_plan
from .test_slice import hire

SH = dt.timezone(dt.timedelta(hours=8))
PERIOD = "2026-10"


def uid(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def at(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, 10, day, hour, tzinfo=SH)


async def seed_deal(svc, deal_id: str, amount: str, shares: dict[str, int]) -> None:
    owner = next(iter(shares))
    async with svc.runtime.sessions() as session:
        await session.execute(
            insert(Deal),
            [
                {
                    "deal_id": deal_id,
                    "salesperson_id": owner,
                    "customer_name": "上海远洋货运 Ocean Freight Co.",
                    "amount": D(amount),
                    "collected": D("0.00"),
                    "currency": "CNY",
                    "product_line": "ocean_freight",
                    "closed_at": at(1, 9),
                    "source": "crm",
                    "created_at": utcnow(),
                    "margin": None,
                    "refunded": D("0.00"),
                    "status": "open",
                }
            ],
        )
        if len(shares) > 1:
            await session.execute(
                insert(DealSplit),
                [
                    {"deal_id": deal_id, "salesperson_id": p, "share": D(s), "position": i}
                    for i, (p, s) in enumerate(shares.items())
                ],
            )
        await session.commit()


async def world(svc) -> tuple[str, str, list[Fact]]:
    """Two reps on a graduated plan, a 60/40 split deal and a solo deal, and facts that
    cross tiers out of time order, repeat a payment and refund part of one."""
    a, b = uid("E"), uid("E")
    for rep in (a, b):
        await hire(svc, rep)
    await make_plan(
        svc,
        {"tier_mode": "graduated", "quota": "1000", "tiers": TIERS_5_8_10},
        assign_to=[a, b],
    )
    split, solo = uid("DS"), uid("DA")
    await seed_deal(svc, split, "5000.00", {a: 60, b: 40})
    await seed_deal(svc, solo, "3000.00", {a: 100})

    def fact(deal: str, kind: str, amount: str, day: int) -> Fact:
        return Fact(deal, kind, uid("F"), D(amount), at(day), str(uuid.uuid4()))

    facts = [
        fact(split, "payment", "900.00", 5),
        fact(solo, "payment", "700.00", 3),  # earlier in time: re-prices the one above
        fact(split, "payment", "1000.01", 4),
        fact(solo, "refund", "-200.00", 6),
    ]
    facts.append(facts[1])  # the same payment twice in one run
    return a, b, facts


async def statement(svc, person: str) -> tuple[dict[str, D], PeriodTotal, int]:
    """Per fact (credit id without the person): the sum of its lines; the total row; lines."""
    async with svc.runtime.sessions() as session:
        lines = list(
            (
                await session.execute(
                    select(CommissionLine).where(
                        CommissionLine.salesperson_id == person, CommissionLine.period == PERIOD
                    )
                )
            ).scalars()
        )
        total = await session.get(PeriodTotal, (person, PERIOD))
    per: dict[str, D] = {}
    for line in lines:
        key = line.credit_id.rsplit(":", 1)[0]
        per[key] = per.get(key, D(0)) + line.amount
    assert total is not None
    assert sum(per.values(), D(0)) == total.total and total.lines == len(lines)
    return per, total, len(lines)


async def test_a_run_of_facts_prices_as_fact_by_fact(commission) -> None:
    publisher = Publisher(commission.runtime.tables, "zhanli/commission")
    a1, b1, facts1 = await world(commission)
    a2, b2, facts2 = await world(commission)
    # The second world gets the first world's fact ids, so the statements compare by id.
    deal_map = {f2.deal_id: f1.deal_id for f1, f2 in zip(facts1, facts2, strict=True)}
    facts2 = [
        Fact(f2.deal_id, f1.kind, f1.fact_id, f1.amount, f1.occurred_at, f1.source_event_id)
        for f1, f2 in zip(facts1, facts2, strict=True)
    ]
    assert len(set(deal_map)) == 2

    async with commission.runtime.sessions() as session:
        outbox0 = await _outbox(session, a1, b1)
        appended = await repricing.apply_facts(session, publisher, commission.settings, facts1)
        await session.commit()
        events = await _outbox(session, a1, b1) - outbox0
    for fact in facts2:  # one transaction per fact, as the fallback path runs them
        async with commission.runtime.sessions() as session:
            await repricing.apply_facts(session, publisher, commission.settings, [fact])
            await session.commit()

    for batch_rep, one_rep in ((a1, a2), (b1, b2)):
        per_batch, total_batch, lines_batch = await statement(commission, batch_rep)
        per_one, total_one, lines_one = await statement(commission, one_rep)
        assert per_batch == per_one  # every fact ends at the same commission
        assert total_batch.total == total_one.total > 0
        assert total_batch.tier == total_one.tier and total_batch.attainment is not None
        assert lines_batch <= lines_one  # no re-pricing between facts of one run
    # a: 4 facts (2 split payments, the solo payment, the refund); b: the 2 split payments;
    # the repeated payment is credited once. One event per fact and person.
    assert appended == 6 and events == 6

    before = await statement(commission, a1)
    async with commission.runtime.sessions() as session:  # replaying the run: nothing
        outbox1 = await _outbox(session, a1, b1)
        assert await repricing.apply_facts(session, publisher, commission.settings, facts1) == 0
        await session.commit()
        assert await _outbox(session, a1, b1) == outbox1
    after = await statement(commission, a1)
    assert after[0] == before[0] and after[2] == before[2]


async def _outbox(session, *people: str) -> int:
    """The outbox rows about these people (the consumer may write others' meanwhile)."""
    from zhanli_commission.db import event_tables

    return len(await outbox_rows_about(session, event_tables.outbox, *people))


def _runner(svc, registry: HandlerRegistry) -> ConsumerRunner:
    """A consumer runner of its own group on the service's database (fed directly)."""
    return ConsumerRunner(
        svc.settings, svc.runtime.sessions, svc.runtime.tables, registry, group_id=uid("g-")
    )


def _record(offset: int, event: PaymentReceived | DealRecorded) -> ConsumerRecord:
    envelope = CloudEvent(
        source="test/erp",
        type=event.topic_name(),
        subject=event.salesperson_id,
        time=utcnow(),
        data=event.model_dump(mode="json"),
    )
    return ConsumerRecord(
        event.topic_name(), 0, offset, 0, 0, None, envelope.to_json(), None, 0, 0, ()
    )


async def test_a_failing_run_falls_back_to_one_event_at_a_time(commission) -> None:
    rep = uid("E")
    await hire(commission, rep)
    deal = uid("D")
    await seed_deal(commission, deal, "9000.00", {rep: 100})
    registry = HandlerRegistry()
    handlers.register(registry, commission.runtime.publisher, commission.settings)
    runner = _runner(commission, registry)
    payments = [
        PaymentReceived(
            payment_id=uid("P"),
            deal_id=deal,
            salesperson_id=rep,
            amount=D(f"{100 + i}.00"),
            currency="CNY",
            paid_at=at(2 + i),
            source="erp",
        )
        for i in range(3)
    ]
    records = [_record(i, p) for i, p in enumerate(payments)]

    topic = PaymentReceived.topic_name()
    working = registry.batch_handlers[topic]

    async def broken(session, items):
        await working(session, items)  # writes, then fails: all of it must roll back
        raise RuntimeError("batch path down")

    registry.batch_handlers[topic] = broken
    await runner.process_batch(records)
    assert runner.handled_total == 3  # every event applied by the one-by-one handler
    per, total, lines = await statement(commission, rep)
    assert lines == 3 and total.total == sum(per.values(), D(0)) > 0

    registry.batch_handlers[topic] = working
    await runner.process_batch(records)  # redelivered: the inbox makes it a no-op
    assert runner.handled_total == 3
    assert (await statement(commission, rep))[2] == 3


async def test_a_running_service_has_frozen_its_start_up_heap(commission) -> None:
    """Full GC collections skip what start-up built (the shared runtime freezes it)."""
    import gc

    assert commission.runtime.consumers  # started, consumers included
    assert gc.get_freeze_count() > 10_000


async def test_a_fetch_of_deals_then_payments_prices_the_payments_as_one_batch(commission) -> None:
    """Records of a topic without a batch handler (deals) are handled one by one, and stop
    where a batch handler can take the rest (the payments) in one call."""
    rep, deal = uid("E"), uid("D")
    await hire(commission, rep)
    registry = HandlerRegistry()
    handlers.register(registry, commission.runtime.publisher, commission.settings)
    topic = PaymentReceived.topic_name()
    working, calls = registry.batch_handlers[topic], []

    async def counting(session, items):
        calls.append(len(items))
        await working(session, items)

    registry.batch_handlers[topic] = counting
    runner = _runner(commission, registry)
    records = [
        _record(
            0,
            DealRecorded(
                deal_id=deal,
                salesperson_id=rep,
                customer_name="深圳跨境物流 Cross-border Logistics",
                amount=D("50000.00"),
                currency="CNY",
                closed_at=at(1, 9),
                source="crm",
            ),
        )
    ]
    records += [
        _record(
            1 + i,
            PaymentReceived(
                payment_id=uid("P"),
                deal_id=deal,
                salesperson_id=rep,
                amount=D("1000.00"),
                currency="CNY",
                paid_at=at(3 + i),
                source="erp",
            ),
        )
        for i in range(4)
    ]
    await runner.process_batch(records)
    assert calls == [4] and runner.handled_total == 5
    _, total, lines = await statement(commission, rep)
    assert lines == 4 and total.total == D("120.00")  # 3 % of 4,000 collected


async def publish_all(svc, events: list, runs: list[int]) -> None:
    """Publish ``events`` as another system would, ``runs`` of them per transaction."""
    runtime = svc.runtime
    i = 0
    for n in runs:
        async with runtime.sessions() as session:
            await Publisher(runtime.tables, "test/crm").publish_many(session, events[i : i + n])
            await session.commit()
        runtime.wake_relay()
        i += n


async def test_payments_at_one_time_in_mixed_order_get_no_rounding_repricing(commission) -> None:
    """Many payments sharing one payment time, arriving in mixed id order through the bus:
    one earning line each (no one-fen re-pricing of earlier lines), and the period sums
    exactly to 3 % of the money collected."""
    import random

    rnd = random.Random(11)
    rep, deal = uid("E"), uid("D")
    await hire(commission, rep)
    await seed_deal(commission, deal, "90000000.00", {rep: 100})
    amounts = [D(f"{100 + i % 900}.{(i * 37) % 100:02d}") for i in range(600)]
    ids = [f"{deal}-P{i:04d}" for i in range(600)]
    rnd.shuffle(ids)
    events = [
        PaymentReceived(
            payment_id=pid,
            deal_id=deal,
            salesperson_id=rep,
            amount=amount,
            currency="CNY",
            paid_at=at(5),
            source="crm",
        )
        for pid, amount in zip(ids, amounts, strict=True)
    ]
    runs: list[int] = []
    while sum(runs) < len(events):
        runs.append(min(rnd.choice([1, 5, 40, 120]), len(events) - sum(runs)))
    await publish_all(commission, events, runs)

    async def lines_of_rep() -> list[CommissionLine]:
        async with commission.runtime.sessions() as session:
            stmt = select(CommissionLine).where(CommissionLine.salesperson_id == rep)
            return list((await session.execute(stmt)).scalars())

    async def all_priced() -> bool:
        return len({line.credit_id for line in await lines_of_rep()}) == len(events)

    await eventually(all_priced, timeout_s=90)
    lines = await lines_of_rep()
    assert [line for line in lines if line.kind != "earning"] == []
    assert len(lines) == len(events)
    _, total, _ = await statement(commission, rep)
    assert total.total == (sum(amounts, D(0)) * D("0.03")).quantize(D("0.01"))
    exact = {f"payment:{e.payment_id}:{rep}": e.amount * D("0.03") for e in events}
    assert all(abs(line.amount - exact[line.credit_id]) < D("0.01") for line in lines)
