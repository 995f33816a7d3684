"""Reading an HRIS export (CSV or XLSX): the directory's columns over the shared reader
(``zhanli_shared.tabular``: encodings detected as the bytes arrive, XLSX in a worker
thread, row numbers as in the spreadsheet)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from zhanli_shared import tabular as _shared
from zhanli_shared.tabular import (
    CSV_MEDIA_TYPES,
    MAX_RECORD_CHARS,
    XLSX_MEDIA_TYPE,
    FileError,
    Record,
    StreamDecoder,
    csv_rows,
    xlsx_rows,
)

__all__ = [
    "COLUMNS",
    "CSV_MEDIA_TYPES",
    "MAX_RECORD_CHARS",
    "REQUIRED",
    "XLSX_MEDIA_TYPE",
    "FileError",
    "Record",
    "StreamDecoder",
    "csv_rows",
    "map_header",
    "records",
    "xlsx_rows",
]

# canonical column -> accepted headers (compared case-insensitively, spaces and '-' as '_')
COLUMNS: dict[str, tuple[str, ...]] = {
    "employee_id": ("工号", "员工工号", "员工编号", "employee_id", "employee_no", "emp_id"),
    "name": ("姓名", "name", "employee_name"),
    "unit": ("部门", "部门编号", "部门编码", "unit", "org_unit", "org_unit_id", "department"),
    "manager": ("上级", "直属上级", "上级工号", "manager", "manager_id"),
    "role": ("职位", "岗位", "role", "job_role", "position"),
    "phone": ("手机", "手机号", "手机号码", "phone", "mobile"),
    "id_number": ("身份证号", "身份证号码", "身份证", "id_number"),
    "hired_on": ("入职日期", "hired_on", "hire_date"),
    "status": ("状态", "在职状态", "员工状态", "status"),
    "unit_name": ("部门名称", "unit_name"),
    "parent_unit": ("上级部门", "parent_unit", "parent_unit_id"),
    "unit_kind": ("部门类型", "unit_kind"),
    "unit_manager": ("部门负责人", "unit_manager"),
    "separated_on": ("离职日期", "separated_on", "exit_date", "termination_date"),
    "separation_reason": ("离职原因", "离职类型", "separation_reason", "exit_reason"),
    "separation_detail": ("离职说明", "离职备注", "separation_detail"),
}
REQUIRED = ("employee_id", "name", "unit")


def map_header(cells: list[Any]) -> tuple[list[str | None], list[str]]:
    """(canonical name or None per column, the headers that were not recognised)."""
    return _shared.map_header(cells, COLUMNS, REQUIRED)


def records(
    rows: AsyncIterator[tuple[int, list[Any]]], header_out: list[list[str]] | None = None
) -> AsyncIterator[Record]:
    return _shared.records(rows, COLUMNS, REQUIRED, header_out)
