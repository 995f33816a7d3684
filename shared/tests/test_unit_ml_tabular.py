"""zhanli_shared.ml.tabular: reading CSV/XLSX exports, the column mapping, the import report."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhanli_shared.errors import Unprocessable
from zhanli_shared.ml import synthetic
from zhanli_shared.ml.tabular import (
    ColumnMapping,
    Limits,
    build_dataset,
    parse_date,
    parse_number,
    read_table,
    records_table,
)

SMALL = Limits(min_rows=10, min_per_class=3)


def _csv(rows: list[list[object]]) -> bytes:
    return "\n".join(",".join(str(c) for c in row) for row in rows).encode()


def _people(n: int = 40) -> list[list[object]]:
    rows: list[list[object]] = [["id", "score", "team", "left"]]
    for i in range(n):
        rows.append([f"E{i}", i % 7, ["North", "South"][i % 2], "Yes" if i % 3 == 0 else "No"])
    return rows


def test_utf8_bom_gbk_and_xlsx_read_the_same_chinese_headers() -> None:
    text = "工号,部门,是否离职\nA1,销售部,是\nA2,客服部,否\n"
    for data, encoding in (
        (text.encode("utf-8"), "utf-8"),
        (b"\xef\xbb\xbf" + text.encode("utf-8"), "utf-8-sig"),
        (text.encode("gbk"), "gb18030"),
        (text.encode("utf-16"), "utf-16"),
    ):
        raw = read_table(data, filename="x.csv")
        assert raw.headers == ["工号", "部门", "是否离职"], encoding
        assert raw.encoding == encoding
        assert raw.rows[0] == ["A1", "销售部", "是"]
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for row in (["工号", "部门", "是否离职"], ["A1", "销售部", "是"]):
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    raw = read_table(buf.getvalue(), filename="x.xlsx")
    assert raw.format == "xlsx" and raw.headers == ["工号", "部门", "是否离职"]
    assert raw.rows == [["A1", "销售部", "是"]] and raw.row_numbers == [2]


def test_semicolon_and_tab_separated_files_are_recognised() -> None:
    for sep in (";", "\t"):
        raw = read_table(f"a{sep}b\n1{sep}2\n".encode())
        assert raw.headers == ["a", "b"] and raw.rows == [["1", "2"]]


@pytest.mark.parametrize(
    ("data", "filename", "words"),
    [
        (b"", "a.csv", "empty"),
        (b"   \n\n", "a.csv", "empty"),
        (b"\xd0\xcf\x11\xe0rest", "a.xls", ".xls"),
        (b"a,b\n1,2\n", "a.xlsx", "not an XLSX"),
        (b"PK\x03\x04garbage", "a.csv", "ZIP"),
        (b"PK\x03\x04garbage", "a.xlsx", "not a readable XLSX"),
        (b"a,b\n1,2\n", "a.pdf", "unsupported"),
        (bytes(range(256)) * 4, "a.csv", "not text"),
        (b"a,a\n1,2\n", "a.csv", "twice"),
    ],
)
def test_bad_files_are_refused_naming_the_file(data: bytes, filename: str, words: str) -> None:
    with pytest.raises(Unprocessable) as err:
        read_table(data, filename=filename)
    assert err.value.field == "file"
    assert words in err.value.detail


def test_oversized_file_is_refused() -> None:
    with pytest.raises(Unprocessable, match="limit"):
        read_table(b"a,b\n" + b"1,2\n" * 100, max_bytes=50)


def test_rows_with_the_wrong_number_of_cells_are_rejected_with_their_line() -> None:
    raw = read_table(b"a,b\n1,2\n3\n4,5,6\n7,8,\n")
    assert raw.rows == [["1", "2"], ["7", "8"]]
    assert [(r.row, r.reason) for r in raw.rejections] == [
        (3, "the row has 1 cells, the header 2"),
        (4, "the row has 3 cells, the header 2"),
    ]


def test_mapping_to_a_missing_column_names_the_field() -> None:
    raw = read_table(_csv(_people()))
    with pytest.raises(Unprocessable) as err:
        build_dataset(raw, ColumnMapping(numeric=["scor"], label="left"), limits=SMALL)
    assert err.value.field == "mapping.numeric" and "'scor'" in err.value.detail
    with pytest.raises(Unprocessable) as err:
        build_dataset(raw, ColumnMapping(numeric=["score"], label="gone"), limits=SMALL)
    assert err.value.field == "mapping.label"
    with pytest.raises(Unprocessable) as err:
        build_dataset(
            raw, ColumnMapping(numeric=["score"], categorical=["score"], label="left"), limits=SMALL
        )
    assert "mapped twice" in err.value.detail


def test_mapping_needs_an_outcome() -> None:
    with pytest.raises(ValueError, match="label"):
        ColumnMapping(numeric=["a"])


def test_text_column_mapped_as_numeric_is_refused() -> None:
    raw = read_table(_csv(_people()))
    with pytest.raises(Unprocessable) as err:
        build_dataset(raw, ColumnMapping(numeric=["team"], label="left"), limits=SMALL)
    assert err.value.field == "mapping.numeric"
    assert "map it as categorical" in err.value.detail


def test_bad_cells_reject_their_rows_and_are_reported() -> None:
    rows = _people()
    rows[3][1] = "abc"
    rows[5][3] = "maybe"
    rows[7][0] = "E1"  # duplicate id of data row 2 (file row 3)
    raw = read_table(_csv(rows))
    ds = build_dataset(
        raw,
        ColumnMapping(numeric=["score"], categorical=["team"], label="left", id="id"),
        limits=SMALL,
    )
    report = ds.report
    assert report is not None
    assert report.rows_read == 40 and report.rows_accepted == 37 and report.rows_rejected == 3
    got = {(r.row, r.column) for r in report.rejections}
    assert got == {(4, "score"), (6, "left"), (8, "id")}
    reasons = {r.column: r.reason for r in report.rejections}
    assert "'abc' is not a number" in reasons["score"]
    assert "first at row 3" in reasons["id"]
    assert report.to_dict()["rejection_counts"]["score: not a number"] == 1
    assert ds.n == 37 and 4 not in ds.row_numbers


@pytest.mark.parametrize(
    ("yes", "no"),
    [("Yes", "No"), ("是", "否"), ("true", "false"), ("1", "0"), ("Y", "N")],
)
def test_label_texts_are_mapped(yes: str, no: str) -> None:
    rows = _people()
    for row in rows[1:]:
        row[3] = yes if row[3] == "Yes" else no
    ds = build_dataset(
        read_table(_csv(rows)), ColumnMapping(numeric=["score"], label="left"), limits=SMALL
    )
    assert ds.y.tolist() == [1 if i % 3 == 0 else 0 for i in range(40)]


def test_custom_label_values() -> None:
    rows = _people()
    for row in rows[1:]:
        row[3] = "Left" if row[3] == "Yes" else "Stayed"
    raw = read_table(_csv(rows))
    with pytest.raises(Unprocessable) as err:
        build_dataset(raw, ColumnMapping(numeric=["score"], label="left"), limits=SMALL)
    assert err.value.field == "mapping.label" and "positive_values" in err.value.detail
    ds = build_dataset(
        raw,
        ColumnMapping(
            numeric=["score"], label="left", positive_values=["left"], negative_values=["Stayed"]
        ),
        limits=SMALL,
    )
    assert int(ds.y.sum()) == 14


def test_constant_label_too_few_rows_and_too_few_positives_are_refused() -> None:
    rows = _people()
    for row in rows[1:]:
        row[3] = "No"
    with pytest.raises(Unprocessable) as err:
        build_dataset(
            read_table(_csv(rows)), ColumnMapping(numeric=["score"], label="left"), limits=SMALL
        )
    assert err.value.field == "mapping.label" and "nothing to learn" in err.value.detail
    rows[1][3] = "Yes"
    with pytest.raises(Unprocessable) as err:
        build_dataset(
            read_table(_csv(rows)), ColumnMapping(numeric=["score"], label="left"), limits=SMALL
        )
    assert err.value.field == "mapping.label" and "at least 3" in err.value.detail
    with pytest.raises(Unprocessable) as err:
        build_dataset(
            read_table(_csv(_people(8))),
            ColumnMapping(numeric=["score"], label="left"),
            limits=SMALL,
        )
    assert err.value.field == "file" and "at least 10" in err.value.detail
    assert "report" in err.value.extra


def test_categories_spelled_differently_are_one_category_and_constants_are_dropped() -> None:
    rows = _people()
    rows[2][2] = "south "
    rows[4][2] = "SOUTH"
    for row in rows:
        row.append("const" if row is not rows[0] else "c")
    ds = build_dataset(
        read_table(_csv(rows)),
        ColumnMapping(numeric=["score"], categorical=["team", "c"], label="left"),
        limits=SMALL,
    )
    team = ds.spec.features[ds.spec.names.index("team")]
    assert team.categories == ("North", "South")
    assert ds.report is not None and ds.report.dropped_features == {
        "c": "the same value in every accepted row"
    }
    assert "c" not in ds.spec.names


def test_identifier_like_categorical_is_refused() -> None:
    with pytest.raises(Unprocessable) as err:
        build_dataset(
            read_table(_csv(_people())),
            ColumnMapping(categorical=["id"], label="left"),
            limits=SMALL,
        )
    assert err.value.field == "mapping.categorical" and "identifier" in err.value.detail


def test_label_from_hire_and_exit_dates_with_censoring() -> None:
    rows: list[list[object]] = [["id", "hired", "left_on", "score"]]
    for i in range(30):
        exit_ = "2024-03-01" if i % 3 == 0 else ("2025-06-01" if i % 3 == 1 else "")
        rows.append([f"E{i}", "2024-01-0" + str(1 + i % 9), exit_, i])
    rows.append(["late", "2025-05-01", "", 5])
    raw = read_table(_csv(rows))
    ds = build_dataset(
        raw,
        ColumnMapping(
            numeric=["score"],
            hire_date="hired",
            exit_date="left_on",
            horizon_days=90,
            as_of="2025-06-30",
        ),
        limits=SMALL,
    )
    assert ds.n == 30 and int(ds.y.sum()) == 10  # only exits within 90 days count
    assert ds.report is not None
    assert [r.reason[:8] for r in ds.report.rejections] == ["censored"]
    assert ds.time is not None and not np.isnan(ds.time).any()


def test_cell_parsers() -> None:
    assert parse_number("1,234.5") == (1234.5, None)
    assert parse_number("¥ 8000") == (8000.0, None)
    assert parse_number("１２") == (12.0, None)  # full-width digits
    assert parse_number("N/A") == (None, None)
    assert parse_number("abc")[1] is not None
    assert parse_date("2024/3/1")[0] is not None
    assert parse_date("2024年3月1日")[0] is not None
    assert parse_date(45000)[0] is not None
    assert "ambiguous" in (parse_date("03/04/2024")[1] or "")


def test_records_table_feeds_the_same_checks() -> None:
    records = [{"x": i, "g": "a" if i % 2 else "b", "y": int(i % 4 == 0)} for i in range(40)]
    ds = build_dataset(
        records_table(records),
        ColumnMapping(numeric=["x"], categorical=["g"], label="y"),
        limits=SMALL,
    )
    assert ds.n == 40 and ds.spec.names == ["x", "g"]
    X = ds.spec.encode([{"x": "3", "g": "B"}, {"x": None, "g": "zzz"}])
    assert X[0].tolist() == [3.0, 1.0]
    assert np.isnan(X[1]).all()


def test_the_ibm_shaped_export_imports_with_its_mess_reported() -> None:
    raw = read_table(
        synthetic.ibm_attrition_csv(), filename="WA_Fn-UseC_-HR-Employee-Attrition.csv"
    )
    assert raw.headers == synthetic.IBM_COLUMNS
    ds = build_dataset(
        raw,
        ColumnMapping(
            numeric=synthetic.IBM_NUMERIC,
            categorical=synthetic.IBM_CATEGORICAL,
            label="Attrition",
            id="EmployeeNumber",
            protected=synthetic.IBM_PROTECTED,
        ),
    )
    report = ds.report
    assert report is not None
    assert report.rows_read == 1470 and report.rows_rejected == 2
    assert set(report.dropped_features) == {"EmployeeCount", "StandardHours", "Over18"}
    travel = ds.spec.features[ds.spec.names.index("BusinessTravel")]
    assert travel.categories == ("Non-Travel", "Travel_Frequently", "Travel_Rarely")
    assert set(ds.protected) == {"Age", "Gender", "MaritalStatus"}
    assert 0.1 < ds.y.mean() < 0.25


async def _chunks(data: bytes, size: int = 7):
    for i in range(0, len(data), size):
        yield data[i : i + size]


async def test_a_streamed_body_reads_like_the_file() -> None:
    from zhanli_shared.ml.tabular import read_table_stream

    text = "工号,部门,是否离职\nA1,销售部,是\nA2,客服部\n\nA3,采购部,否\n"
    raw = await read_table_stream(_chunks(text.encode("gbk")), "text/csv; charset=gbk")
    assert raw.headers == ["工号", "部门", "是否离职"]
    assert raw.rows == [["A1", "销售部", "是"], ["A3", "采购部", "否"]]
    assert raw.row_numbers == [2, 5] and [r.row for r in raw.rejections] == [3]
    xlsx = synthetic.candidates_xlsx(30)
    raw = await read_table_stream(
        _chunks(xlsx, 1000), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert raw.headers == synthetic.CANDIDATE_COLUMNS and len(raw.rows) == 30
    with pytest.raises(Unprocessable) as err:
        await read_table_stream(_chunks(b"a,b\n1,2\n"), "application/pdf")
    assert err.value.field == "content-type"
    with pytest.raises(Unprocessable) as err:
        await read_table_stream(_chunks(b"a,b\n" * 100), "text/csv", max_bytes=50)
    assert err.value.field == "file"


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=2000), name=st.sampled_from([None, "a.csv", "a.xlsx", "a.txt"]))
def test_any_bytes_read_or_are_refused_as_unprocessable(data: bytes, name: str | None) -> None:
    try:
        raw = read_table(data, filename=name)
    except Unprocessable as exc:
        assert exc.field in ("file", "sheet")
    else:
        assert all(len(row) == len(raw.headers) for row in raw.rows)


def test_a_damaged_workbook_is_refused() -> None:
    xlsx = synthetic.candidates_xlsx(50)
    for cut in (100, len(xlsx) // 2, len(xlsx) - 30):
        with pytest.raises(Unprocessable) as err:
            read_table(xlsx[:cut], filename="a.xlsx")
        assert err.value.field == "file"


def test_a_report_title_above_the_column_names_is_skipped() -> None:
    text = "员工满意度调查 2024年\n导出时间: 2024-12-01\n\n工号,部门,是否离职\nA1,销售部,是\n\nA2,客服部,否\n"
    raw = read_table(text.encode("gbk"), filename="survey.csv")
    assert raw.headers == ["工号", "部门", "是否离职"] and raw.title_rows == 2
    assert raw.rows == [["A1", "销售部", "是"], ["A2", "客服部", "否"]]
    assert raw.row_numbers == [5, 7] and raw.blank_rows == 1
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for row in (["候选人结果汇总"], [], ["编号", "笔试", "结果"], ["C1", 80, 1], ["C2", 70, 0]):
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    raw = read_table(buf.getvalue(), filename="x.xlsx")
    assert raw.headers == ["编号", "笔试", "结果"] and raw.title_rows == 1
    assert raw.rows == [["C1", 80, 1], ["C2", 70, 0]] and raw.row_numbers == [4, 5]
