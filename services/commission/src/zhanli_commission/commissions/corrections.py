"""Retroactive correction of a plan version: show every difference, then apply.

Only periods still open are corrected; closed ones are listed as skipped (their statements
are locked; a correction there is an adjustment in the next open period, by finance)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.commissions import pricing, repricing, snapshot
from zhanli_commission.commissions.models import PeriodTotal
from zhanli_commission.plans import service
from zhanli_commission.plans.schemas import CorrectionDiff, CorrectionRequest, CorrectionResult
from zhanli_commission.sales.service import people
from zhanli_commission.settings import CommissionSettings
from zhanli_shared import audit
from zhanli_shared.auth import Principal
from zhanli_shared.errors import Unprocessable
from zhanli_shared.events.outbox import Publisher

ZERO = Decimal("0.00")


async def correct(
    session: AsyncSession,
    publisher: Publisher,
    settings: CommissionSettings,
    plan_id: str,
    number: int,
    body: CorrectionRequest,
    *,
    actor: Principal,
    source_ip: str | None = None,
) -> CorrectionResult:
    version = await service.get_version(session, plan_id, number)
    if body.rules.needs_quota and body.rules.quota is None:
        raise Unprocessable("A tiered plan needs a 'quota'.", field="rules.quota")
    stmt = select(PeriodTotal).where(
        PeriodTotal.plan_id == plan_id,
        PeriodTotal.plan_version == number,
        PeriodTotal.period >= version.effective_from,
    )
    if version.effective_to:
        stmt = stmt.where(PeriodTotal.period <= version.effective_to)
    rows = list((await session.execute(stmt.order_by(PeriodTotal.period))).scalars())
    open_rows = [r for r in rows if r.status == "open"]
    skipped = sorted({r.period for r in rows if r.status != "open"})
    corrected = service.ResolvedPlan(plan_id, number, body.rules)
    diffs: list[CorrectionDiff] = []
    for row in open_rows:
        person = await people.get(session, row.salesperson_id)
        if person is None:
            continue
        inputs = await snapshot.pricing_inputs(
            session, settings, person, row.period, plan=corrected
        )
        current = await snapshot.pricing_inputs(session, settings, person, row.period)
        new_total = pricing.price(inputs).total
        old_total = pricing.price(current).total
        if new_total != old_total:
            diffs.append(
                CorrectionDiff(
                    salesperson_id=row.salesperson_id,
                    period=row.period,
                    current_total=old_total,
                    corrected_total=new_total,
                    difference=new_total - old_total,
                )
            )
    if body.apply:
        before = version.rules
        version.rules = body.rules.model_dump(mode="json", by_alias=True)
        await session.flush()
        await audit.record(
            session,
            publisher,
            actor=actor,
            action="commission.plan.version_corrected",
            entity_type="commission_plan",
            entity_id=f"{plan_id}@v{number}",
            before={"rules": before},
            after={
                "rules": version.rules,
                "reason": body.reason,
                "differences": {f"{d.salesperson_id}/{d.period}": d.difference for d in diffs},
            },
            source_ip=source_ip,
        )
        for row in open_rows:
            await repricing.recompute(
                session,
                publisher,
                settings,
                row.salesperson_id,
                row.period,
                cause_event_id=f"plan-correction:{plan_id}@v{number}",
                reason=f"plan {plan_id} v{number} corrected: {body.reason}",
            )
    return CorrectionResult(
        plan_id=plan_id,
        version=number,
        applied=body.apply,
        periods=sorted({r.period for r in open_rows}),
        skipped_closed_periods=skipped,
        differences=diffs,
        total_difference=sum((d.difference for d in diffs), ZERO),
    )
