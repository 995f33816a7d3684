"""The team analysis HR exports: everyone under a unit with their score, rank, whether a
top performer (the top fifth, at least one), each indicator's score and their two weakest
indicators; CSV (UTF-8 with a byte-order mark, so Excel reads the Chinese) or XLSX."""

from __future__ import annotations

import csv
import io
from typing import Any

HEADER = [
    "排名 Rank",
    "工号 Employee",
    "姓名 Name",
    "部门 Unit",
    "岗位 Role",
    "方案 Plan",
    "总分 Score",
    "优秀 Top performer",
    "最弱指标 Weakest",
    "次弱指标 Second weakest",
]


def table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    codes = sorted({line["indicator"] for r in rows for line in r["breakdown"]})
    ranked = sorted(
        rows, key=lambda r: (-(r["score"] if r["score"] is not None else -1), r["employee_id"])
    )
    scored = [r for r in ranked if r["score"] is not None]
    top_n = max(1, len(scored) // 5) if scored else 0
    top = {r["employee_id"] for r in scored[:top_n]}
    out = []
    for i, r in enumerate(ranked, start=1):
        by = {line["indicator"]: line for line in r["breakdown"]}
        short = sorted(
            (x for x in r["breakdown"] if x["score"] < 1),
            key=lambda x: (-(x["weight"] * (1 - x["score"])), x["indicator"]),
        )
        weakest = [f"{x['name_zh']} {x['name_en']}" for x in short[:2]] + ["", ""]
        out.append(
            [
                i if r["score"] is not None else "",
                r["employee_id"],
                r["name"],
                r["unit"],
                r["role"],
                r["plan_id"] or "",
                r["score"] if r["score"] is not None else "",
                "是 yes" if r["employee_id"] in top else "",
                weakest[0],
                weakest[1],
            ]
            + [by[c]["score"] if c in by else "" for c in codes]
        )
    return HEADER + codes, out


def to_csv(header: list[str], rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def to_xlsx(header: list[str], rows: list[list[Any]], title: str) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31] or "KPI")
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
