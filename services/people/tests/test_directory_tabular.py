"""Reading HRIS exports without a database: encodings detected as the bytes arrive, quoted
fields over several lines, header aliases, XLSX rows with their sheet row numbers."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import AsyncIterator

import pytest
from openpyxl import Workbook

from zhanli_people.directory import tabular
from zhanli_people.directory.tabular import FileError, Record


async def chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def read_csv(data: bytes, size: int = 65536, charset: str | None = None) -> list[Record]:
    return [r async for r in tabular.records(tabular.csv_rows(chunked(data, size), charset))]


TEXT = (
    "工号,姓名,部门,备注\r\n"
    'E1,王小明,T1,"第一行\r\n第二行, 还有 ""引号"""\r\n'
    "\r\n"
    "E2,欧阳娜娜,T1,\r\n"
    "E3,Zoë,T2"  # no newline at the end
)


@pytest.mark.parametrize("size", [1, 2, 3, 5, 64, 65536])
@pytest.mark.parametrize(
    ("encoding", "prefix", "charset"),
    [
        ("utf-8", b"", None),
        ("utf-8", b"\xef\xbb\xbf", None),  # BOM (split over chunks when size < 3)
        ("utf-8", b"\xef\xbb\xbf", "utf-8"),
        ("gb18030", b"", None),  # GBK sniffed
        ("gb18030", b"", "GBK"),
    ],
)
async def test_csv_encodings_and_chunking(
    encoding: str, prefix: bytes, charset: str | None, size: int
) -> None:
    text = TEXT if encoding == "utf-8" else TEXT.replace("Zoë", "张三")
    rows = await read_csv(prefix + text.encode(encoding), size, charset)
    assert [r.row for r in rows] == [2, 4, 5]  # spreadsheet rows: a quoted field is one row
    assert rows[0].values == {"employee_id": "E1", "name": "王小明", "unit": "T1"}
    assert rows[1].values["name"] == "欧阳娜娜"
    assert rows[2].values["name"] == ("Zoë" if encoding == "utf-8" else "张三")


async def test_gbk_detected_after_a_long_ascii_start() -> None:
    head = "employee_id,name,unit\n" + "".join(f"E{i},n{i},T\n" for i in range(20000))
    data = (head + "E-last,诸葛亮,T\n").encode("gbk")
    rows = await read_csv(data, 8192)
    assert rows[-1].values["name"] == "诸葛亮" and rows[-1].row == 20002


async def test_tab_separated_and_english_aliases() -> None:
    rows = await read_csv("Employee ID\tName\tDepartment\tMobile\nE1\t张\tT\t138\n".encode())
    assert rows[0].values == {"employee_id": "E1", "name": "张", "unit": "T", "phone": "138"}


@pytest.mark.parametrize(
    ("data", "charset", "field"),
    [
        ("姓名,部门\n王,T\n".encode(), None, "employee_id"),  # a required column is missing
        ("工号,employee_id,姓名,部门\n".encode(), None, "employee_id"),  # two mean the same
        (b"", None, "file"),  # nothing at all
        ("工号,姓名,部门\nE1,王,T\n".encode("gbk"), "utf-8", "encoding"),
        (b"employee_id,name,unit\n", "rot13", "content-type"),
        (b"employee_id,name,unit\n", "no-such-charset", "content-type"),
        (b'employee_id,name,unit\nE1,"never closed,T\n' + b"x\n" * 40000, None, "file"),
        (b"employee_id,name,unit\n" + b"x" * 100_000, None, "file"),  # an endless line
    ],
)
async def test_unreadable_files(data: bytes, charset: str | None, field: str) -> None:
    with pytest.raises(FileError) as caught:
        await read_csv(data, 4096, charset)
    assert caught.value.field == field, caught.value.message


async def test_extra_cells_are_flagged() -> None:
    rows = await read_csv(b"employee_id,name,unit\nE1,a,T,surprise\nE2,b,T,\n")
    assert rows[0].values.get("__extra__") and "__extra__" not in rows[1].values


async def test_xlsx_rows_keep_sheet_numbers_and_cell_types() -> None:
    book = Workbook()
    sheet = book.active
    sheet["A3"], sheet["B3"], sheet["C3"], sheet["D3"] = "工号", "姓名", "部门", "入职日期"
    sheet.append(["E1", "王", "T", dt.datetime(2026, 1, 5)])
    sheet["A7"], sheet["B7"], sheet["C7"] = 1002, "李", "T"
    buf = io.BytesIO()
    book.save(buf)
    rows = [r async for r in tabular.records(tabular.xlsx_rows(chunked(buf.getvalue(), 1000)))]
    assert [r.row for r in rows] == [4, 7]
    assert rows[0].values["hired_on"] == dt.datetime(2026, 1, 5)
    assert rows[1].values["employee_id"] == 1002
    with pytest.raises(FileError):
        [r async for r in tabular.records(tabular.xlsx_rows(chunked(b"PK\x03\x04junk", 3)))]
