"""Reports: cohorts (JSON, CSV with BOM, XLSX), fairness of high-risk flags, the effect of
interventions. Aggregates for HR and executives."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from zhanli_retention.core.cohorts import COLUMNS, COLUMNS_ZH
from zhanli_retention.reports import service
from zhanli_retention.settings import retention_settings
from zhanli_shared.auth import Principal, require_roles
from zhanli_shared.runtime import RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/retention/reports", tags=["retention reports"])
Reader = Annotated[Principal, Depends(require_roles("hr_admin", "hr_bp", "executive"))]
By = Literal["hire_month", "match_score_band", "training_band", "mentor"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get(
    "/cohorts",
    responses={200: {"content": {"application/json": {}, "text/csv": {}, XLSX: {}}}},
)
async def cohorts(
    principal: Reader,
    session: SessionDep,
    runtime: RuntimeDep,
    by: Annotated[By, Query()] = "hire_month",
    format: Annotated[Literal["json", "csv", "xlsx"], Query()] = "json",
) -> Any:
    """Probation retention by hire month, match-score band at hire, training-completion
    band (at the end of probation) or mentor."""
    rows = await service.cohort_rows(session, retention_settings(runtime), by)
    if format == "json":
        return {
            "by": by,
            "columns": list(COLUMNS),
            "items": [dict(zip(COLUMNS, r.as_list(), strict=True)) for r in rows],
        }
    name = f"retention-cohorts-{by}"
    if format == "csv":
        buf = io.StringIO()
        buf.write("\ufeff")
        writer = csv.writer(buf, lineterminator="\r\n")
        writer.writerow([f"{zh} {en}" for zh, en in zip(COLUMNS_ZH, COLUMNS, strict=True)])
        for r in rows:
            writer.writerow(["" if v is None else v for v in r.as_list()])
        return Response(
            buf.getvalue().encode("utf-8"),
            media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{name}.csv"'},
        )
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = by
    ws.append([f"{zh} {en}" for zh, en in zip(COLUMNS_ZH, COLUMNS, strict=True)])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r in rows:
        ws.append(r.as_list())
    for row in ws.iter_rows(min_row=2, min_col=7, max_col=7):
        for cell in row:
            cell.number_format = "0.0%"
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return Response(
        out.getvalue(),
        media_type=XLSX,
        headers={"content-disposition": f'attachment; filename="{name}.xlsx"'},
    )


@router.get("/fairness")
async def fairness(principal: Reader, session: SessionDep) -> dict[str, Any]:
    """High-risk flags by gender and age band: four-fifths rule, small groups unreliable."""
    return await service.fairness(session)


@router.get("/effect")
async def effect(
    principal: Reader,
    session: SessionDep,
    runtime: RuntimeDep,
    horizon_days: Annotated[int, Query(ge=7, le=365)] = 90,
    caliper: Annotated[float, Query(gt=0, le=0.5)] = 0.05,
) -> dict[str, Any]:
    """Retention after an intervention against matched people who received none."""
    return await service.effect(
        session, retention_settings(runtime), horizon_days=horizon_days, caliper=caliper
    )
