"""The statement lifecycle: close a period, draws and guarantees, approvals, payouts,
disputes. Use cases add and flush, never commit; every write is audited.

- **Close** (finance, hr_admin) freezes every open period position of the period (or of one
  unit): ``commission_period_totals.status`` becomes ``closed`` (the ledger then books late
  facts into the person's next open period), a statement row is written, people with an
  assigned plan but no activity get an empty statement, and the draw is applied.
- **Draws**: in the first ``draw.months`` of service a period earning less than the
  guaranteed ``draw.amount`` gets a ``draw`` line topping it up. A recoverable draw adds the
  top-up to the person's draw balance, recovered (``draw_recovery`` lines, negative) from
  later periods' earnings above the guarantee (above zero once the guarantee has ended).
- **Approval**: closed -> manager_approved (a sales manager whose scope covers the person,
  never the person) -> payable (finance) -> paid (the payout batch is marked paid). A
  refusal with a reason returns the statement to ``closed``; finance corrects it with an
  adjustment line and it is approved again.
Payout batches are in ``payouts.service``, disputes in ``disputes.service``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.commissions import writer
from zhanli_commission.commissions.models import CommissionLine, PeriodTotal
from zhanli_commission.core.draws import DrawEffect, draw_effect, payout_split
from zhanli_commission.core.quotas import months_of_service
from zhanli_commission.plans.service import ResolvedPlan, resolve_plan
from zhanli_commission.sales.service import people
from zhanli_commission.settings import CommissionSettings
from zhanli_commission.statements import repository
from zhanli_commission.statements.models import (
    CLOSED,
    MANAGER_APPROVED,
    OPEN,
    PAYABLE,
    PersonBalance,
    Statement,
    StatementHistory,
)
from zhanli_commission.statements.schemas import (
    AdjustmentRequest,
    ApproveRequest,
    HistoryRead,
    PayoutRead,
    RejectionRead,
    StatementLineRead,
    StatementRead,
)
from zhanli_shared import audit
from zhanli_shared.auth import Principal, Role
from zhanli_shared.db import utcnow
from zhanli_shared.directory import Person
from zhanli_shared.errors import Conflict, Forbidden, NotFound, OutOfScope, Unprocessable
from zhanli_shared.events.contracts.commission import (
    StatementStatusChanged,
)
from zhanli_shared.events.outbox import Publisher
from zhanli_shared.money import FEN, business_month

ZERO = Decimal("0.00")
DRAW_KINDS = ("draw", "draw_recovery")
PAY_HIDDEN = "Commission figures are visible to the person, their managers, finance and HR only."


def _money(value: Decimal) -> Decimal:
    return Decimal(value).quantize(FEN)


def next_period(period: str) -> str:
    year, month = (int(x) for x in period.split("-"))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return f"{year:04d}-{month:02d}"


# --- plans ---------------------------------------------------------------------------------


PlanResolver = Callable[[AsyncSession, Person, str], Awaitable[ResolvedPlan | None]]


def plan_resolver(settings: CommissionSettings) -> PlanResolver:
    """The plans package's ``resolve_plan`` (one choice of plan: ``core.assignment``)."""

    async def resolve(session: AsyncSession, person: Person, period: str) -> ResolvedPlan:
        return await resolve_plan(session, person, period, settings)

    return resolve


# --- shared pieces -------------------------------------------------------------------------


def actor_id(actor: Principal | str) -> str:
    return actor if isinstance(actor, str) else actor.subject


async def known_person(session: AsyncSession, employee_id: str) -> Person:
    person = await people.get(session, employee_id)
    if person is None:
        raise NotFound(f"Unknown person {employee_id!r}.")
    return person


def check_pay_visible(principal: Principal, person: Person) -> None:
    """Pay of someone out of the caller's scope is answered like an unknown person (404):
    ids cannot be enumerated."""
    if not principal.can_view_pay(person.employee_id, person.org_path):
        raise OutOfScope(f"Unknown person {person.employee_id!r}.")


def manages(principal: Principal, person: Person) -> bool:
    return (
        principal.has_any({Role.SALES_MANAGER})
        and principal.manages(person.org_path)
        and principal.subject != person.employee_id
    )


async def locked_balance(session: AsyncSession, person_id: str) -> PersonBalance:
    row = await repository.balance(session, person_id, for_update=True)
    if row is None:
        row = PersonBalance(
            salesperson_id=person_id,
            draw_balance=ZERO,
            carried_balance=ZERO,
            updated_at=utcnow(),
        )
        session.add(row)
    return row


def sums_of(lines: Sequence[CommissionLine]) -> tuple[Decimal, Decimal]:
    """(earnings: every line but draws, draws: top-ups minus recoveries)."""
    earnings = sum((ln.amount for ln in lines if ln.kind not in DRAW_KINDS), ZERO)
    draws = sum((ln.amount for ln in lines if ln.kind in DRAW_KINDS), ZERO)
    return _money(earnings), _money(draws)


async def _statement_total(session: AsyncSession, person_id: str, period: str) -> Decimal:
    earnings, draws = sums_of(await repository.lines_of_period(session, person_id, period))
    return earnings + draws


async def transition(
    session: AsyncSession,
    publisher: Publisher,
    st: Statement,
    *,
    to: str,
    action: str,
    actor: Principal | str,
    total: Decimal,
    comment: str | None = None,
    source_ip: str | None = None,
    audit_before: dict[str, Any] | None = None,
    audit_after: dict[str, Any] | None = None,
) -> None:
    """Move a statement (and its period total) to ``to``: history, audit, event."""
    now = utcnow()
    before = st.status
    st.status = to
    st.updated_at = now
    await writer.set_status(session, st.salesperson_id, st.period, to)
    session.add(
        StatementHistory(
            entry_id=uuid.uuid4().hex,
            salesperson_id=st.salesperson_id,
            period=st.period,
            action=action,
            from_status=before,
            to_status=to,
            actor_id=actor_id(actor),
            comment=comment,
            at=now,
        )
    )
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action=f"commission.statement.{action}",
        entity_type="commission_statement",
        entity_id=f"{st.salesperson_id}:{st.period}",
        before={"status": before, "total": total, **(audit_before or {})},
        after={"status": to, "total": total, "comment": comment, **(audit_after or {})},
        source_ip=source_ip,
    )
    await publisher.publish(
        session,
        StatementStatusChanged(
            salesperson_id=st.salesperson_id,
            period=st.period,
            from_status=before,
            status=to,
            action=action,
            total=total,
            draw_balance=st.draw_balance_after,
            currency=st.currency,
            changed_by=actor_id(actor),
            changed_at=now,
            reason=comment if action == "reject" else None,
            payout_batch_id=st.payout_batch_id,
        ),
    )


# --- close -----------------------------------------------------------------------------------


@dataclass
class CloseOutcome:
    closed: int = 0
    created: int = 0
    already_closed: int = 0
    draw_lines: int = 0


async def close_period(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    period: str,
    *,
    org_unit_id: str | None,
    actor: Principal | str,
    source_ip: str | None = None,
    resolve: PlanResolver | None = None,
) -> CloseOutcome:
    resolve = resolve or plan_resolver(settings)
    now = utcnow()
    if period > business_month(now, settings.timezone):
        raise Unprocessable(f"Period {period} has not started yet.", field="period")
    everyone = {p.employee_id: p for p in await repository.all_people(session)}

    def in_scope(person_id: str) -> bool:
        if org_unit_id is None:
            return True
        person = everyone.get(person_id)
        return person is not None and org_unit_id in person.org_path

    outcome = CloseOutcome()
    totals = [
        t
        for t in await repository.totals_of_period(session, period, for_update=True)
        if in_scope(t.salesperson_id)
    ]
    have = {t.salesperson_id for t in totals}
    plans: dict[str, ResolvedPlan] = {}
    for person in everyone.values():
        if person.employee_id in have or not in_scope(person.employee_id):
            continue
        if person.status == "left" or (
            person.hired_on is not None and months_of_service(person.hired_on, period) == 0
        ):
            continue
        plan = await resolve(session, person, period)
        if plan is None or plan.plan_id is None:
            continue
        plans[person.employee_id] = plan
    if plans:  # empty positions for people with a plan and no activity
        await writer.lock_totals(
            session,
            settings,
            [(pid, period) for pid in sorted(plans)],
            plans={(pid, period): (p.plan_id, p.version) for pid, p in plans.items()},
        )
        outcome.created = len(plans)
        totals = [
            t
            for t in await repository.totals_of_period(session, period, for_update=True)
            if in_scope(t.salesperson_id)
        ]
    close_id = uuid.uuid4().hex
    for total_row in totals:
        if total_row.status != OPEN:
            outcome.already_closed += 1
            continue
        known = everyone.get(total_row.salesperson_id)
        plan = plans.get(total_row.salesperson_id)
        if plan is None and known is not None:
            plan = await resolve(session, known, period)
        outcome.draw_lines += await _close_one(
            session,
            publisher,
            settings,
            total_row,
            known,
            plan,
            actor=actor,
            close_id=close_id,
            source_ip=source_ip,
        )
        outcome.closed += 1
    return outcome


async def _draw_lines(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    person_id: str,
    period: str,
    effect: DrawEffect,
    *,
    top_up: Decimal,
    recovery: Decimal,
    earnings: Decimal,
    explanation: dict[str, Any],
    top_up_note: str,
    recovery_note: str,
    source_id: str,
    plan: ResolvedPlan | None,
) -> int:
    """Append a ``draw`` line of ``top_up`` and a ``draw_recovery`` line of ``-recovery``
    (each only when not zero), explained; returns how many."""
    lines = [
        writer.NewLine(
            kind=kind,
            amount=amount,
            rule=rule,
            explanation={**explanation, "notes": [note]},
            source_event_id=source_id,
            basis=earnings,
            plan_id=plan.plan_id if plan else None,
            plan_version=plan.version if plan else None,
        )
        for kind, amount, rule, note in (
            ("draw", top_up, f"draw_{effect.kind}", top_up_note),
            ("draw_recovery", -recovery, "draw_recovery", recovery_note),
        )
        if amount != 0
    ]
    if not lines:
        return 0
    total = await writer.lock_total(session, settings, person_id, period)
    return len(await writer.append_lines(session, publisher, settings, total, lines))


async def _close_one(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    total_row: PeriodTotal,
    person: Person | None,
    plan: ResolvedPlan | None,
    *,
    actor: Principal | str,
    close_id: str,
    source_ip: str | None,
) -> int:
    person_id, period = total_row.salesperson_id, total_row.period
    lines = await repository.lines_of_period(session, person_id, period)
    earnings, draws_before = sums_of(lines)
    month = (
        months_of_service(person.hired_on, period)
        if person is not None and person.hired_on is not None
        else None
    )
    balance = await locked_balance(session, person_id)
    balance_before = balance.draw_balance
    effect = draw_effect(plan.rules if plan else None, month, earnings, balance_before)
    explanation = {
        "guarantee": None if effect.guarantee is None else str(effect.guarantee),
        "draw_kind": effect.kind,
        "earnings": str(earnings),
        "month_of_service": month,
        "of_months": plan.rules.draw.months if plan and plan.rules.draw else None,
        "balance_before": str(balance_before),
        "balance_after": str(effect.balance_after),
    }
    recoverable = effect.kind == "recoverable"
    threshold = effect.guarantee if effect.guarantee is not None else ZERO
    added = await _draw_lines(
        session,
        publisher,
        settings,
        person_id,
        period,
        effect,
        top_up=effect.top_up,
        recovery=effect.recovery,
        earnings=earnings,
        explanation=explanation,
        top_up_note=f"guaranteed minimum {effect.guarantee} in month {month} of service; "
        f"earned {earnings}, topped up by {effect.top_up}"
        + ("; owed back from later earnings" if recoverable else "; not recovered"),
        recovery_note=f"recoverable draw owed {balance_before}; earnings above {threshold}: "
        f"{earnings - threshold}; recovered {effect.recovery}",
        source_id=close_id,
        plan=plan,
    )
    balance.draw_balance = effect.balance_after
    balance.updated_at = utcnow()
    st = Statement(
        salesperson_id=person_id,
        period=period,
        status=OPEN,
        org_unit_id=person.org_unit_id if person else None,
        currency=total_row.currency,
        plan_id=plan.plan_id if plan else total_row.plan_id,
        plan_version=plan.version if plan else total_row.plan_version,
        months_of_service=month,
        draw_kind=effect.kind if effect.in_window else None,
        draw_guarantee=effect.guarantee,
        draw_balance_before=balance_before,
        draw_balance_after=effect.balance_after,
        closed_at=utcnow(),
        closed_by=actor_id(actor),
        updated_at=utcnow(),
    )
    session.add(st)
    total = _money(earnings + draws_before + effect.top_up - effect.recovery)
    await transition(
        session,
        publisher,
        st,
        to=CLOSED,
        action="close",
        actor=actor,
        total=total,
        source_ip=source_ip,
        audit_before={"draw_balance": balance_before, "earnings": earnings},
        audit_after={
            "draw_top_up": effect.top_up,
            "draw_recovery": effect.recovery,
            "draw_balance": effect.balance_after,
        },
    )
    return added


# --- read --------------------------------------------------------------------------------


async def read_statement(
    session: AsyncSession,
    settings: CommissionSettings,
    principal: Principal,
    employee_id: str,
    period: str,
) -> StatementRead:
    person = await known_person(session, employee_id)
    check_pay_visible(principal, person)
    total_row = await repository.period_total(session, employee_id, period)
    lines = await repository.lines_of_period(session, employee_id, period)
    st = await repository.get_statement(session, employee_id, period)
    bal = await repository.balance(session, employee_id)
    earnings, draws = sums_of(lines)
    total = earnings + draws
    carried = bal.carried_balance if bal else ZERO
    payout = None
    payable: Decimal | None = None
    if st is not None and st.payout_batch_id:
        item = await repository.payout_item_of(session, st.payout_batch_id, employee_id)
        if item is not None:
            payout = PayoutRead(
                batch_id=item.batch_id,
                carried_in=item.carried_in,
                amount=item.amount,
                carried_out=item.carried_out,
            )
            carried, payable = item.carried_in, item.amount
    elif st is not None:
        payable = payout_split(total, carried)[0]
    rejection = None
    if st is not None and st.rejection_reason and st.rejected_by and st.rejected_at:
        rejection = RejectionRead(reason=st.rejection_reason, by=st.rejected_by, at=st.rejected_at)
    disputes = await repository.disputes_of(session, employee_id, period, "open")
    return StatementRead(
        salesperson_id=employee_id,
        name=person.name,
        org_unit_id=st.org_unit_id if st else person.org_unit_id,
        period=period,
        status=st.status if st else (total_row.status if total_row else OPEN),
        currency=total_row.currency if total_row else settings.currency,
        total=total,
        earnings_total=earnings,
        draw_total=draws,
        basis_total=total_row.basis_total if total_row else ZERO,
        quota=total_row.quota if total_row else None,
        attainment=total_row.attainment if total_row else None,
        tier=total_row.tier if total_row else None,
        plan_id=total_row.plan_id if total_row else None,
        plan_version=total_row.plan_version if total_row else None,
        draw_balance=st.draw_balance_after if st else (bal.draw_balance if bal else ZERO),
        carried_balance=carried,
        payable=payable,
        closed_at=st.closed_at if st else None,
        rejection=rejection,
        approvals=[
            HistoryRead.model_validate(h)
            for h in await repository.history(session, employee_id, period)
        ],
        payout=payout,
        open_disputes=len(disputes),
        lines=[StatementLineRead.model_validate(ln) for ln in lines],
    )


async def statement_balances(
    session: AsyncSession, employee_id: str, period: str
) -> dict[str, Decimal]:
    """The draw and carried balances the statement of ``period`` shows (for other views)."""
    st = await repository.get_statement(session, employee_id, period)
    bal = await repository.balance(session, employee_id)
    carried = bal.carried_balance if bal else ZERO
    if st is not None and st.payout_batch_id:
        item = await repository.payout_item_of(session, st.payout_batch_id, employee_id)
        carried = item.carried_in if item else carried
    draw = st.draw_balance_after if st else (bal.draw_balance if bal else ZERO)
    return {"draw_balance": draw, "carried_balance": carried}


# --- approvals ---------------------------------------------------------------------------


async def approve(
    session: AsyncSession,
    publisher: Publisher,
    employee_id: str,
    period: str,
    data: ApproveRequest,
    *,
    actor: Principal,
    source_ip: str | None = None,
) -> None:
    person = await known_person(session, employee_id)
    level = data.level or ("finance" if actor.has_any({Role.FINANCE}) else "manager")
    if level == "manager":
        if not manages(actor, person):
            raise Forbidden("Only a sales manager whose scope covers the person approves first.")
        expected, to, action = CLOSED, MANAGER_APPROVED, "manager_approve"
    else:
        if not actor.has_any({Role.FINANCE}) or actor.subject == employee_id:
            raise Forbidden("Only finance approves for payment (never their own statement).")
        expected, to, action = MANAGER_APPROVED, PAYABLE, "finance_approve"
    st = await repository.get_statement(session, employee_id, period, for_update=True)
    if st is None:
        raise Conflict(f"The statement of {period} is still open: close the period first.")
    if st.status != expected:
        raise Conflict(
            f"The statement is {st.status}; the {level} approval needs it {expected}.",
            statement_status=st.status,
        )
    now = utcnow()
    if level == "manager":
        st.manager_approved_by, st.manager_approved_at = actor.subject, now
    else:
        st.finance_approved_by, st.finance_approved_at = actor.subject, now
    total = await _statement_total(session, employee_id, period)
    await transition(
        session,
        publisher,
        st,
        to=to,
        action=action,
        actor=actor,
        total=total,
        comment=data.comment,
        source_ip=source_ip,
    )


async def reject(
    session: AsyncSession,
    publisher: Publisher,
    employee_id: str,
    period: str,
    reason: str,
    *,
    actor: Principal,
    source_ip: str | None = None,
) -> None:
    person = await known_person(session, employee_id)
    finance = actor.has_any({Role.FINANCE}) and actor.subject != employee_id
    if not finance and not manages(actor, person):
        raise Forbidden("Only the person's manager or finance refuses a statement.")
    st = await repository.get_statement(session, employee_id, period, for_update=True)
    if st is None:
        raise Conflict(f"The statement of {period} is still open: nothing to refuse.")
    allowed = (CLOSED, MANAGER_APPROVED, PAYABLE) if finance else (CLOSED,)
    if st.status not in allowed or st.payout_batch_id is not None:
        raise Conflict(
            f"A {st.status} statement cannot be refused"
            + (" (it is in a payout batch)." if st.payout_batch_id else " by you."),
            statement_status=st.status,
        )
    now = utcnow()
    st.rejection_reason, st.rejected_by, st.rejected_at = reason, actor.subject, now
    st.manager_approved_by = st.manager_approved_at = None
    st.finance_approved_by = st.finance_approved_at = None
    total = await _statement_total(session, employee_id, period)
    await transition(
        session,
        publisher,
        st,
        to=CLOSED,
        action="reject",
        actor=actor,
        total=total,
        comment=reason,
        source_ip=source_ip,
    )


async def adjust_closed(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    employee_id: str,
    period: str,
    data: AdjustmentRequest,
    *,
    actor: Principal,
    source_ip: str | None = None,
) -> dict[str, Any]:
    """Correct a closed statement before it is approved (typically after a refusal)."""
    await known_person(session, employee_id)
    if actor.subject == employee_id:
        raise Forbidden("Nobody corrects their own statement.")
    if data.amount == 0:
        raise Unprocessable("An adjustment of zero changes nothing.", field="amount")
    st = await repository.get_statement(session, employee_id, period, for_update=True)
    if st is None:
        raise Conflict(f"The statement of {period} is open: its lines come from the ledger.")
    if st.status != CLOSED:
        raise Conflict(
            f"Only a closed statement not yet approved is corrected (this one is {st.status}); "
            "refuse it first.",
            statement_status=st.status,
        )
    before = await _statement_total(session, employee_id, period)
    source_id = uuid.uuid4().hex
    line = await writer.append_line(
        session,
        publisher,
        settings,
        employee_id,
        period,
        writer.NewLine(
            kind="adjustment",
            amount=data.amount,
            rule="statement_correction",
            explanation={"reason": data.reason, "by": actor.subject, "notes": [data.reason]},
            source_event_id=source_id,
        ),
    )
    await _redraw(session, publisher, settings, st, source_id=source_id)
    now = utcnow()
    st.updated_at = now
    session.add(
        StatementHistory(
            entry_id=uuid.uuid4().hex,
            salesperson_id=employee_id,
            period=period,
            action="adjust",
            from_status=st.status,
            to_status=st.status,
            actor_id=actor.subject,
            comment=data.reason,
            at=now,
        )
    )
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="commission.statement.adjusted",
        entity_type="commission_statement",
        entity_id=f"{employee_id}:{period}",
        before={"status": st.status, "total": before},
        after={
            "status": st.status,
            "total": before + line["amount"],
            "adjustment": line["amount"],
            "commission_id": line["commission_id"],
            "reason": data.reason,
        },
        source_ip=source_ip,
    )
    return line


async def _redraw(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    st: Statement,
    *,
    source_id: str,
) -> None:
    """A corrected closed statement gets the draw its new earnings call for, from the balance
    it was closed with: the difference to its draw lines is appended (a top-up shrinks or
    grows, a recovery changes, each as its own explained line) and the person's draw balance
    moves by the same amount."""
    person_id, period = st.salesperson_id, st.period
    lines = await repository.lines_of_period(session, person_id, period)
    earnings, _ = sums_of(lines)
    topped = sum((ln.amount for ln in lines if ln.kind == "draw"), ZERO)
    recovered = -sum((ln.amount for ln in lines if ln.kind == "draw_recovery"), ZERO)
    person = await known_person(session, person_id)
    plan = await plan_resolver(settings)(session, person, period)
    effect = draw_effect(
        plan.rules if plan else None, st.months_of_service, earnings, st.draw_balance_before
    )
    note = f"statement corrected: earned {earnings}"
    await _draw_lines(
        session,
        publisher,
        settings,
        person_id,
        period,
        effect,
        top_up=effect.top_up - topped,
        recovery=effect.recovery - recovered,
        earnings=earnings,
        explanation={
            "guarantee": None if effect.guarantee is None else str(effect.guarantee),
            "draw_kind": effect.kind,
            "earnings": str(earnings),
            "month_of_service": st.months_of_service,
            "balance_before": str(st.draw_balance_before),
            "balance_after": str(effect.balance_after),
        },
        top_up_note=f"{note}; top-up to the guarantee now {effect.top_up} (was {topped})",
        recovery_note=f"{note}; draw recovered now {effect.recovery} (was {recovered})",
        source_id=source_id,
        plan=plan,
    )
    if effect.balance_after != st.draw_balance_after:
        balance = await locked_balance(session, person_id)
        balance.draw_balance = _money(
            balance.draw_balance + effect.balance_after - st.draw_balance_after
        )
        balance.updated_at = utcnow()
        st.draw_balance_after = effect.balance_after
