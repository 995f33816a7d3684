"""Statements, period close, approvals, payout batches and disputes (thin routes)."""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterator
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.commissions import extras
from zhanli_commission.commissions import repository as ledger_rows
from zhanli_commission.commissions.schemas import (
    CommissionLineRead,
    CommissionStatement,
    ProbationRead,
)
from zhanli_commission.plans import service as plans
from zhanli_commission.sales.service import people
from zhanli_commission.settings import commission_settings
from zhanli_commission.statements import repository, service
from zhanli_commission.statements.models import PayoutBatch, PayoutItem
from zhanli_commission.statements.schemas import (
    PERIOD_PATTERN,
    AdjustmentRequest,
    ApproveRequest,
    CloseRequest,
    CloseResult,
    DisputeCreate,
    DisputeList,
    DisputeRead,
    DisputeResolve,
    PayoutBatchList,
    PayoutBatchRead,
    PayoutBatchSummary,
    PayoutCreate,
    PayoutItemRead,
    PayoutPaid,
    RejectRequest,
    StatementLineRead,
    StatementRead,
)
from zhanli_shared.audit import client_ip
from zhanli_shared.auth import CurrentPrincipal, Principal, Role, require_roles
from zhanli_shared.db import utcnow
from zhanli_shared.directory import Person
from zhanli_shared.errors import Forbidden, NotFound, Unprocessable
from zhanli_shared.money import business_month
from zhanli_shared.runtime import PublisherDep, Runtime, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/commission", tags=["statements and payouts"])

PeriodPath = Annotated[str, Path(pattern=PERIOD_PATTERN, description="Business month YYYY-MM")]
Closer = Annotated[Principal, Depends(require_roles(Role.FINANCE, Role.HR_ADMIN))]
Finance = Annotated[Principal, Depends(require_roles(Role.FINANCE))]
PayoutReader = Annotated[
    Principal,
    Depends(require_roles(Role.FINANCE, Role.HR_ADMIN, Role.HR_BP, Role.INTEGRATION)),
]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
COLUMNS = (
    "batch_id",
    "period",
    "employee_id",
    "name",
    "org_unit_id",
    "statement_total",
    "draw_total",
    "carried_in",
    "amount",
    "carried_out",
    "currency",
)


@router.get("/people/{employee_id}/statements/{period}", response_model=StatementRead)
async def read_statement(
    employee_id: str,
    period: PeriodPath,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
) -> StatementRead:
    """A person's statement of a period: every line explained, status and approvals, draw
    balance and carried balance. Visible to the person, their managers, finance and HR."""
    settings = commission_settings(runtime)
    return await service.read_statement(session, settings, principal, employee_id, period)


@router.post("/periods/{period}/close", response_model=CloseResult)
async def close_period(
    period: PeriodPath,
    request: Request,
    principal: Closer,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
    body: CloseRequest | None = None,
) -> CloseResult:
    """Close the period for everyone (or one unit and below): statements are frozen, draws
    applied, and facts arriving later are booked into the next open period."""
    unit = body.org_unit_id if body else None
    outcome = await service.close_period(
        session,
        publisher,
        commission_settings(runtime),
        period,
        org_unit_id=unit,
        actor=principal,
        source_ip=client_ip(request),
    )
    return CloseResult(
        period=period,
        org_unit_id=unit,
        closed=outcome.closed,
        created_without_activity=outcome.created,
        already_closed=outcome.already_closed,
        draw_lines=outcome.draw_lines,
    )


@router.post("/people/{employee_id}/statements/{period}/approve", response_model=StatementRead)
async def approve_statement(
    employee_id: str,
    period: PeriodPath,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
    body: ApproveRequest | None = None,
) -> StatementRead:
    """closed -> manager_approved (the person's sales manager) -> payable (finance)."""
    await service.approve(
        session,
        publisher,
        employee_id,
        period,
        body or ApproveRequest(),
        actor=principal,
        source_ip=client_ip(request),
    )
    return await service.read_statement(
        session, commission_settings(runtime), principal, employee_id, period
    )


@router.post("/people/{employee_id}/statements/{period}/reject", response_model=StatementRead)
async def reject_statement(
    employee_id: str,
    period: PeriodPath,
    body: RejectRequest,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> StatementRead:
    """Refuse with a reason: back to ``closed``, to be corrected and approved again."""
    await service.reject(
        session,
        publisher,
        employee_id,
        period,
        body.reason,
        actor=principal,
        source_ip=client_ip(request),
    )
    return await service.read_statement(
        session, commission_settings(runtime), principal, employee_id, period
    )


@router.post(
    "/people/{employee_id}/statements/{period}/adjustments",
    status_code=status.HTTP_201_CREATED,
    response_model=StatementLineRead,
)
async def adjust_statement(
    employee_id: str,
    period: PeriodPath,
    body: AdjustmentRequest,
    request: Request,
    principal: Finance,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> StatementLineRead:
    """Finance corrects a closed statement not yet approved (an ``adjustment`` line)."""
    line = await service.adjust_closed(
        session,
        publisher,
        commission_settings(runtime),
        employee_id,
        period,
        body,
        actor=principal,
        source_ip=client_ip(request),
    )
    return StatementLineRead.model_validate(line)


def _batch_read(batch: PayoutBatch, items: list[PayoutItem]) -> PayoutBatchRead:
    return PayoutBatchRead(
        batch_id=batch.batch_id,
        period=batch.period,
        org_unit_id=batch.org_unit_id,
        status=batch.status,
        currency=batch.currency,
        total_amount=batch.total_amount,
        created_at=batch.created_at,
        created_by=batch.created_by,
        paid_at=batch.paid_at,
        paid_by=batch.paid_by,
        payment_reference=batch.payment_reference,
        items=[PayoutItemRead.model_validate(i) for i in items],
    )


@router.post("/payouts", status_code=status.HTTP_201_CREATED, response_model=PayoutBatchRead)
async def create_payout(
    body: PayoutCreate,
    request: Request,
    principal: Finance,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> PayoutBatchRead:
    """A batch of every finance-approved statement of the period (or of one unit)."""
    batch = await service.create_batch(
        session,
        publisher,
        commission_settings(runtime),
        body.period,
        body.org_unit_id,
        actor=principal,
        source_ip=client_ip(request),
    )
    return _batch_read(*(await service.get_batch(session, batch.batch_id)))


def _cell(value: object) -> object:
    """Text that a spreadsheet would run as a formula is quoted (CSV/formula injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _rows(batch: PayoutBatch, items: list[PayoutItem]) -> list[list[object]]:
    return [
        [
            _cell(batch.batch_id),
            batch.period,
            _cell(i.salesperson_id),
            _cell(i.name),
            _cell(i.org_unit_id or ""),
            i.statement_total,
            i.draw_total,
            i.carried_in,
            i.amount,
            i.carried_out,
            i.currency,
        ]
        for i in items
    ]


@router.get(
    "/payouts/{batch_id}.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}},
)
async def export_payout_csv(
    batch_id: str, principal: PayoutReader, session: SessionDep
) -> StreamingResponse:
    """The batch for payroll: UTF-8 with a byte order mark (Excel shows Chinese names)."""
    batch, items = await service.get_batch(session, batch_id)
    rows = _rows(batch, items)

    def stream() -> Iterator[bytes]:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\r\n")
        buf.write("\ufeff")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow(row)
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
        if buf.getvalue():
            yield buf.getvalue().encode("utf-8")

    return StreamingResponse(
        stream(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{batch.batch_id}.csv"'},
    )


@router.get(
    "/payouts/{batch_id}.xlsx", response_class=Response, responses={200: {"content": {XLSX: {}}}}
)
async def export_payout_xlsx(
    batch_id: str, principal: PayoutReader, session: SessionDep
) -> Response:
    """The batch as an Excel workbook (amounts as numbers with two decimals)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    batch, items = await service.get_batch(session, batch_id)
    wb = Workbook()
    ws = wb.active
    ws.title = f"Payout {batch.period}"
    ws.append(list(COLUMNS))
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in _rows(batch, items):
        ws.append(row)
    for row in ws.iter_rows(min_row=2, min_col=6, max_col=10):
        for cell in row:
            cell.number_format = "#,##0.00"
    for col, width in zip("ABCDEFGHIJK", (26, 9, 14, 16, 12, 15, 12, 12, 14, 12, 9), strict=True):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return Response(
        out.getvalue(),
        media_type=XLSX,
        headers={"content-disposition": f'attachment; filename="{batch.batch_id}.xlsx"'},
    )


@router.get("/payouts", response_model=PayoutBatchList)
async def list_payouts(
    principal: PayoutReader,
    session: SessionDep,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
    status: Annotated[str | None, Query(pattern=r"^(created|paid)$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> PayoutBatchList:
    """Payout batches, newest first: payroll finds the batches it has not taken yet
    (``status=created``), finance and HR the history of a period."""
    after = None
    if cursor is not None:
        after = await repository.get_batch(session, cursor)
        if after is None:
            raise Unprocessable("The cursor is not one this API returned.", field="query.cursor")
    rows = await repository.list_batches(
        session, period=period, status=status, after=after, limit=limit + 1
    )
    page = rows[:limit]
    return PayoutBatchList(
        items=[PayoutBatchSummary.model_validate(b) for b in page],
        next_cursor=page[-1].batch_id if len(rows) > limit else None,
    )


@router.get("/payouts/{batch_id}", response_model=PayoutBatchRead)
async def read_payout(
    batch_id: str, principal: PayoutReader, session: SessionDep
) -> PayoutBatchRead:
    """A payout batch: finance, HR and integrations (payroll) read it."""
    return _batch_read(*(await service.get_batch(session, batch_id)))


@router.post("/payouts/{batch_id}/paid", response_model=PayoutBatchRead)
async def mark_payout_paid(
    batch_id: str,
    request: Request,
    principal: Finance,
    session: SessionDep,
    publisher: PublisherDep,
    body: PayoutPaid | None = None,
) -> PayoutBatchRead:
    """Payroll paid the batch: its statements become ``paid``."""
    await service.mark_paid(
        session,
        publisher,
        batch_id,
        body.payment_reference if body else None,
        actor=principal,
        source_ip=client_ip(request),
    )
    return _batch_read(*(await service.get_batch(session, batch_id)))


@router.post(
    "/lines/{commission_id}/disputes",
    status_code=status.HTTP_201_CREATED,
    response_model=DisputeRead,
)
async def raise_dispute(
    commission_id: str,
    body: DisputeCreate,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
) -> DisputeRead:
    """The person paid by a line questions it."""
    dispute = await service.raise_dispute(
        session, publisher, commission_id, body, actor=principal, source_ip=client_ip(request)
    )
    return DisputeRead.model_validate(dispute)


@router.get("/people/{employee_id}/disputes", response_model=DisputeList)
async def list_disputes(
    employee_id: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    period: Annotated[str | None, Query(pattern=PERIOD_PATTERN)] = None,
    status: Annotated[str | None, Query(pattern=r"^(open|accepted|rejected)$")] = None,
) -> DisputeList:
    rows = await service.list_disputes(session, principal, employee_id, period, status)
    return DisputeList(items=[DisputeRead.model_validate(d) for d in rows])


@router.get("/disputes/{dispute_id}", response_model=DisputeRead)
async def read_dispute(
    dispute_id: str, principal: CurrentPrincipal, session: SessionDep
) -> DisputeRead:
    return DisputeRead.model_validate(await service.visible_dispute(session, principal, dispute_id))


@router.post("/disputes/{dispute_id}/resolve", response_model=DisputeRead)
async def resolve_dispute(
    dispute_id: str,
    body: DisputeResolve,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> DisputeRead:
    """The manager or finance answers: accepted (an adjustment line in the person's first
    open period) or rejected."""
    dispute = await service.resolve_dispute(
        session,
        publisher,
        commission_settings(runtime),
        dispute_id,
        body,
        actor=principal,
        source_ip=client_ip(request),
    )
    return DisputeRead.model_validate(dispute)


# --- the live position of a period (the statement before it is closed) -----------------

LivePeriod = Annotated[
    str | None,
    Query(
        pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="Business month YYYY-MM; default: current"
    ),
]


@router.get("/people/{employee_id}/statement", response_model=CommissionStatement)
async def read_live_position(
    employee_id: str,
    principal: CurrentPrincipal,
    session: SessionDep,
    runtime: RuntimeDep,
    period: LivePeriod = None,
) -> CommissionStatement:
    person = await people.get(session, employee_id)
    if person is None:
        raise NotFound(f"Unknown person {employee_id!r}.")
    if not principal.can_view_pay(employee_id, person.org_path):
        raise Forbidden(
            "Commission figures are visible to the person, their managers, finance and HR only."
        )
    period = period or business_month(utcnow(), commission_settings(runtime).timezone)
    # Lines first, then the position: each read sees at least what the one before saw (READ
    # COMMITTED), and the total shown is the sum of the lines shown, never a newer or older one.
    lines = await ledger_rows.lines_of_period(session, employee_id, period)
    total = await ledger_rows.period_total(session, employee_id, period)
    return CommissionStatement(
        salesperson_id=employee_id,
        period=period,
        currency=total.currency if total else commission_settings(runtime).currency,
        total=sum((line.amount for line in lines), Decimal("0.00")),
        basis_total=total.basis_total if total else Decimal("0.00"),
        lines=[CommissionLineRead.model_validate(line) for line in lines],
        status=total.status if total else "open",
        plan_id=total.plan_id if total else None,
        plan_version=total.plan_version if total else None,
        quota=total.quota if total else None,
        attainment=total.attainment if total else None,
        tier=total.tier if total else None,
        kept=total.kept if total else Decimal("0.00"),
        probation=await _probation(session, runtime, person, period),
        **await service.statement_balances(session, employee_id, period),
    )


async def _probation(
    session: AsyncSession, runtime: Runtime, person: Person, period: str
) -> ProbationRead | None:
    plan = await plans.resolve_plan(session, person, period, commission_settings(runtime))
    if plan.rules.probation is None:
        return None
    status = await extras.probation_status(session, person, period, plan.rules.probation)
    return ProbationRead(**dataclasses.asdict(status)) if status else None
