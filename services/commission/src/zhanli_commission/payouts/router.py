"""Payout batches: create, list, read, export (JSON, CSV, XLSX), mark paid (thin routes)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from zhanli_commission.payouts import service
from zhanli_commission.settings import commission_settings
from zhanli_commission.statements import repository
from zhanli_commission.statements.models import PayoutBatch, PayoutItem
from zhanli_commission.statements.schemas import (
    PERIOD_PATTERN,
    PayoutBatchList,
    PayoutBatchRead,
    PayoutBatchSummary,
    PayoutCreate,
    PayoutItemRead,
    PayoutPaid,
)
from zhanli_shared.audit import client_ip
from zhanli_shared.auth import Principal, Role, require_roles
from zhanli_shared.errors import Unprocessable
from zhanli_shared.runtime import PublisherDep, ReadSessionDep, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/commission", tags=["statements and payouts"])

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
    batch_id: str, principal: PayoutReader, session: ReadSessionDep
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
    batch_id: str, principal: PayoutReader, session: ReadSessionDep
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
    session: ReadSessionDep,
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
    batch_id: str, principal: PayoutReader, session: ReadSessionDep
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
