"""Disputes: the person questions a line of their statement; their manager or finance
accepts it (an ``adjustment`` line in the person's first open period, the disputed
statement stays as it was) or rejects it."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.commissions import writer
from zhanli_commission.sales.service import people
from zhanli_commission.settings import CommissionSettings
from zhanli_commission.statements import repository
from zhanli_commission.statements.models import (
    Dispute,
)
from zhanli_commission.statements.schemas import (
    DisputeCreate,
    DisputeResolve,
)
from zhanli_commission.statements.service import (
    check_pay_visible,
    known_person,
    manages,
    next_period,
)
from zhanli_shared import audit
from zhanli_shared.auth import Principal, Role
from zhanli_shared.db import utcnow
from zhanli_shared.errors import Conflict, Forbidden, NotFound, OutOfScope, Unprocessable
from zhanli_shared.events.outbox import Publisher


async def raise_dispute(
    session: AsyncSession,
    publisher: Publisher,
    commission_id: str,
    data: DisputeCreate,
    *,
    actor: Principal,
    source_ip: str | None = None,
) -> Dispute:
    line = await repository.get_line(session, commission_id)
    if line is None:
        raise NotFound(f"Commission line {commission_id!r} not found.")
    if line.salesperson_id != actor.subject:
        raise Forbidden("Only the person paid by a line disputes it.")
    if await repository.open_dispute_of_line(session, commission_id) is not None:
        raise Conflict("This line already has an open dispute.", field="commission_id")
    dispute = Dispute(
        dispute_id=uuid.uuid4().hex,
        commission_id=commission_id,
        salesperson_id=line.salesperson_id,
        period=line.period,
        status="open",
        reason=data.reason,
        raised_by=actor.subject,
        raised_at=utcnow(),
    )
    session.add(dispute)
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="commission.dispute.raised",
        entity_type="commission_dispute",
        entity_id=dispute.dispute_id,
        before=None,
        after={
            "commission_id": commission_id,
            "salesperson_id": line.salesperson_id,
            "period": line.period,
            "line_amount": line.amount,
            "reason": data.reason,
        },
        source_ip=source_ip,
    )
    return dispute


async def visible_dispute(session: AsyncSession, principal: Principal, dispute_id: str) -> Dispute:
    dispute = await repository.get_dispute(session, dispute_id)
    if dispute is None:
        raise NotFound(f"Dispute {dispute_id!r} not found.")
    person = await people.get(session, dispute.salesperson_id)
    org_path = person.org_path if person else []
    if not principal.can_view_pay(dispute.salesperson_id, org_path):
        raise OutOfScope(f"Dispute {dispute_id!r} not found.")  # alike: no id enumeration
    return dispute


async def list_disputes(
    session: AsyncSession,
    principal: Principal,
    employee_id: str,
    period: str | None,
    status: str | None,
) -> list[Dispute]:
    person = await known_person(session, employee_id)
    check_pay_visible(principal, person)
    return await repository.disputes_of(session, employee_id, period, status)


async def resolve_dispute(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    dispute_id: str,
    data: DisputeResolve,
    *,
    actor: Principal,
    source_ip: str | None = None,
) -> Dispute:
    if not actor.has_any({Role.FINANCE, Role.SALES_MANAGER}):
        raise Forbidden("Only the person's manager or finance resolves a dispute.")
    dispute = await repository.get_dispute(session, dispute_id, for_update=True)
    if dispute is None:
        raise NotFound(f"Dispute {dispute_id!r} not found.")
    person = await known_person(session, dispute.salesperson_id)
    finance = actor.has_any({Role.FINANCE}) and actor.subject != person.employee_id
    if not finance and not manages(actor, person):
        raise Forbidden("Only the person's manager or finance resolves a dispute.")
    if dispute.status != "open":
        raise Conflict(f"The dispute is already {dispute.status}.")
    if data.decision == "accepted":
        if data.amount is None or data.amount == 0:
            raise Unprocessable("An accepted dispute needs a non-zero 'amount'.", field="amount")
    elif data.amount is not None:
        raise Unprocessable("A rejected dispute adjusts nothing: no 'amount'.", field="amount")
    now = utcnow()
    before = {"status": dispute.status}
    if data.decision == "accepted":
        assert data.amount is not None
        line = await repository.get_line(session, dispute.commission_id)
        period = dispute.period
        closed = await repository.closed_periods_from(session, person.employee_id, period)
        while period in closed:
            period = next_period(period)
        adjustment = await writer.append_line(
            session,
            publisher,
            settings,
            person.employee_id,
            period,
            writer.NewLine(
                kind="adjustment",
                amount=data.amount,
                rule="dispute_adjustment",
                deal_id=line.deal_id if line else "",
                explanation={
                    "dispute_id": dispute.dispute_id,
                    "disputed_line": dispute.commission_id,
                    "disputed_period": dispute.period,
                    "reason": dispute.reason,
                    "answer": data.answer,
                    "notes": [f"dispute accepted by {actor.subject}: {data.answer}"],
                },
                source_event_id=dispute.dispute_id,
            ),
        )
        dispute.adjustment_amount = adjustment["amount"]
        dispute.adjustment_commission_id = adjustment["commission_id"]
        dispute.adjustment_period = period
    dispute.status = data.decision
    dispute.answer = data.answer
    dispute.resolved_by, dispute.resolved_at = actor.subject, now
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action=f"commission.dispute.{data.decision}",
        entity_type="commission_dispute",
        entity_id=dispute.dispute_id,
        before=before,
        after={
            "status": dispute.status,
            "answer": data.answer,
            "adjustment_amount": dispute.adjustment_amount,
            "adjustment_period": dispute.adjustment_period,
            "adjustment_commission_id": dispute.adjustment_commission_id,
        },
        source_ip=source_ip,
    )
    return dispute
