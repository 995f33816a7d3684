"""Import of tabular HR exports: read CSV/XLSX, apply a column mapping, report what was rejected.

``read_table(data, filename=...)`` -> :class:`RawTable` (headers + raw cells, per-file problems);
``build_dataset(raw, mapping)`` -> :class:`Dataset` (a float matrix with categorical codes, the
0/1 label, the :class:`FeatureSpec` that encodes new rows the same way, and an
:class:`ImportReport`). ``records_table(records)`` turns already-fetched rows (dicts) into a
``RawTable`` so a service's own feature rows go through the same checks.

Errors that make the whole import meaningless raise ``Unprocessable`` naming the field
(``file``, ``mapping.numeric``, ``mapping.categorical``, ``mapping.label``...); errors of one
row reject that row and are listed (row number in the file, column, reason).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
import unicodedata
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from zhanli_shared.errors import Unprocessable

MAX_BYTES = 50 * 1024 * 1024
MAX_ROWS = 1_000_000
MAX_LISTED_REJECTIONS = 200

MISSING_TOKENS = frozenset(
    {"", "na", "n/a", "nan", "null", "none", "-", "--", "#n/a", "无", "空", "缺失", "(空白)"}
)
POSITIVE_LABELS = frozenset({"yes", "y", "true", "t", "1", "1.0", "是", "对", "真", "positive"})
NEGATIVE_LABELS = frozenset({"no", "n", "false", "f", "0", "0.0", "否", "错", "假", "negative"})

_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_CURRENCY = "¥￥$€£元"


# --------------------------------------------------------------------------------- reading


@dataclass
class Rejection:
    row: int  # 1-based row number in the file (the header is row 1)
    column: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "reason": self.reason}


@dataclass
class RawTable:
    """Cells as read (str, int, float, bool, date/datetime or None), one list per row."""

    headers: list[str]
    rows: list[list[Any]]
    row_numbers: list[int]
    format: Literal["csv", "xlsx", "records"]
    encoding: str | None = None
    rejections: list[Rejection] = field(default_factory=list)
    blank_rows: int = 0
    title_rows: int = 0  # non-blank rows above the header (a report title) skipped


def read_table(
    data: bytes,
    *,
    filename: str | None = None,
    sheet: str | None = None,
    max_bytes: int = MAX_BYTES,
    max_rows: int = MAX_ROWS,
) -> RawTable:
    """Read a CSV (UTF-8, UTF-8 with BOM, UTF-16 with BOM, GBK/GB18030; comma, semicolon,
    tab or pipe separated) or an XLSX workbook (first sheet unless ``sheet``).

    The type comes from the content; a ``filename`` whose extension claims another type is
    refused. Raises ``Unprocessable(field="file")`` for empty, oversized, unreadable files."""
    if not data or not data.strip():
        raise Unprocessable("the file is empty", field="file")
    if len(data) > max_bytes:
        raise Unprocessable(
            f"the file has {len(data):,} bytes; the limit is {max_bytes:,}", field="file"
        )
    ext = filename.rsplit(".", 1)[-1].lower() if filename and "." in filename else None
    if data[:4] == b"\xd0\xcf\x11\xe0":
        raise Unprocessable(
            "this is an old Excel .xls (or other OLE) file: save it as .xlsx or CSV", field="file"
        )
    is_zip = data[:4] == b"PK\x03\x04"
    if ext in ("xlsx", "xlsm") and not is_zip:
        raise Unprocessable(
            f"the file is named .{ext} but its content is not an XLSX workbook", field="file"
        )
    if is_zip:
        if ext not in (None, "xlsx", "xlsm"):
            raise Unprocessable(
                f"the file is named .{ext} but its content is a ZIP/XLSX archive", field="file"
            )
        return _read_xlsx(data, sheet=sheet, max_rows=max_rows)
    if ext not in (None, "csv", "txt", "tsv"):
        raise Unprocessable(
            f"unsupported file type .{ext}: upload CSV (UTF-8 or GBK) or XLSX", field="file"
        )
    return _read_csv(data, max_rows=max_rows)


async def read_table_stream(
    chunks: AsyncIterator[bytes],
    content_type: str,
    *,
    max_bytes: int = MAX_BYTES,
    max_rows: int = MAX_ROWS,
) -> RawTable:
    """A raw request body (``Content-Type: text/csv[; charset=gbk]`` or the XLSX media type)
    read with the platform's streaming reader (``zhanli_shared.tabular``, as the directory's
    HRIS import reads), into a RawTable. Errors become ``Unprocessable`` naming the field
    (``file``, ``encoding``, ``content-type``)."""
    from zhanli_shared import tabular as platform

    async def limited() -> AsyncIterator[bytes]:
        seen = 0
        async for chunk in chunks:
            seen += len(chunk)
            if seen > max_bytes:
                raise Unprocessable(f"the file is larger than {max_bytes:,} bytes", field="file")
            yield chunk

    try:
        media_type, charset = platform.content_type(content_type)
        table: RawTable | None = None
        keep: list[int] = []
        width = 0
        async for number, cells in platform.stream_rows(limited(), media_type, charset):
            blank = all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)
            if table is None:
                if blank:
                    continue
                fmt: Literal["csv", "xlsx"] = (
                    "xlsx" if media_type == platform.XLSX_MEDIA_TYPE else "csv"
                )
                table = RawTable(headers=[], rows=[], row_numbers=[], format=fmt)
                keep = _set_headers(table, ["" if c is None else str(c) for c in cells])
                width = len(cells)
                continue
            if blank:
                table.blank_rows += 1
                continue
            if table.format == "csv" and len(cells) != width:
                if len(cells) < width or any(str(c).strip() for c in cells[width:]):
                    table.rejections.append(
                        Rejection(
                            number, None, f"the row has {len(cells)} cells, the header {width}"
                        )
                    )
                    continue
            cells = list(cells) + [None] * (max(keep, default=-1) + 1 - len(cells))
            table.rows.append([cells[i] for i in keep])
            table.row_numbers.append(number)
            if len(table.rows) > max_rows:
                raise Unprocessable(f"more than {max_rows:,} rows", field="file")
    except platform.FileError as exc:
        raise Unprocessable(exc.message, field=exc.field) from exc
    if table is None:
        raise Unprocessable("the file is empty", field="file")
    return table


def decode_text(data: bytes) -> tuple[str, str]:
    """(text, encoding): BOMs first, then strict UTF-8, then GB18030 (a superset of GBK)."""
    if data.startswith(b"\xef\xbb\xbf"):
        candidates = ["utf-8-sig"]
    elif data.startswith((b"\xff\xfe", b"\xfe\xff")):
        candidates = ["utf-16"]
    else:
        candidates = ["utf-8", "gb18030"]
    for encoding in candidates:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" in text:
            break
        return text, encoding
    raise Unprocessable(
        "the file is not text in UTF-8 or GBK/GB18030 (nor an XLSX workbook)", field="file"
    )


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _read_csv(data: bytes, *, max_rows: int) -> RawTable:
    text, encoding = decode_text(data)
    text = text.lstrip("\ufeff")
    first_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(first_line))
    table = RawTable(headers=[], rows=[], row_numbers=[], format="csv", encoding=encoding)
    try:
        numbered = ((reader.line_num, line) for line in reader)
        found, table.title_rows, replay = _find_header(numbered)
        if found is None:
            raise Unprocessable("the file has no header row", field="file")
        header = [str(c) for c in found[1]]
        keep = _set_headers(table, header)
        width = len(header)

        def lines() -> Iterator[tuple[int, list[str]]]:
            yield from replay
            yield from numbered

        for number, line in lines():
            if not any(cell.strip() for cell in line):
                table.blank_rows += 1
                continue
            if (len(line) != width and any(c.strip() for c in line[width:])) or len(line) < width:
                table.rejections.append(
                    Rejection(number, None, f"the row has {len(line)} cells, the header {width}")
                )
                continue
            table.rows.append([line[i] for i in keep])
            table.row_numbers.append(number)
            if len(table.rows) > max_rows:
                raise Unprocessable(f"more than {max_rows:,} rows", field="file")
    except csv.Error as exc:
        raise Unprocessable(f"the CSV cannot be parsed: {exc}", field="file") from exc
    return table


def _read_xlsx(data: bytes, *, sheet: str | None, max_rows: int) -> RawTable:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # zip, XML and openpyxl's own errors alike
        raise Unprocessable("the content is not a readable XLSX workbook", field="file") from exc
    try:
        return _xlsx_table(workbook, sheet=sheet, max_rows=max_rows)
    except Unprocessable:
        raise
    except Exception as exc:  # a damaged part found while reading rows
        raise Unprocessable("the workbook cannot be read to its end", field="file") from exc
    finally:
        workbook.close()


def _xlsx_table(workbook: Any, *, sheet: str | None, max_rows: int) -> RawTable:
    if sheet is not None:
        if sheet not in workbook.sheetnames:
            raise Unprocessable(
                f"no sheet {sheet!r} (sheets: {', '.join(workbook.sheetnames)})", field="sheet"
            )
        worksheet = workbook[sheet]
    else:
        worksheet = workbook.worksheets[0]
    table = RawTable(headers=[], rows=[], row_numbers=[], format="xlsx")
    keep: list[int] | None = None
    sheet_rows = (
        (number, list(values))
        for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1)
    )
    found, table.title_rows, replay = _find_header(sheet_rows)
    if found is not None:
        keep = _set_headers(table, ["" if c is None else str(c) for c in found[1]])

    def rest() -> Iterator[tuple[int, list[Any]]]:
        yield from replay
        yield from sheet_rows

    for number, cells in rest():
        blank = _blank_row(cells)
        if keep is None:
            break
        if blank:
            table.blank_rows += 1
            continue
        cells += [None] * (max(keep, default=-1) + 1 - len(cells))
        table.rows.append([cells[i] for i in keep])
        table.row_numbers.append(number)
        if len(table.rows) > max_rows:
            raise Unprocessable(f"more than {max_rows:,} rows", field="file")
    if keep is None:
        raise Unprocessable("the sheet has no header row", field="file")
    return table


HEADER_SEARCH_ROWS = 12


def _blank_row(cells: Sequence[Any]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def _filled(cells: Sequence[Any]) -> int:
    return sum(1 for c in cells if not (c is None or (isinstance(c, str) and not c.strip())))


def _find_header(
    rows: Iterator[tuple[int, list[Any]]],
) -> tuple[tuple[int, list[Any]] | None, int, list[tuple[int, list[Any]]]]:
    """(the header row, how many non-blank rows above it were skipped, the rows read after
    it) from the first ``HEADER_SEARCH_ROWS`` non-blank rows."""
    head: list[tuple[int, list[Any]]] = []
    nonblank: list[int] = []
    for number, cells in rows:
        head.append((number, cells))
        if not _blank_row(cells):
            nonblank.append(len(head) - 1)
            if len(nonblank) >= HEADER_SEARCH_ROWS:
                break
    if not nonblank:
        return None, 0, []
    at = _header_index([head[i][1] for i in nonblank])
    return head[nonblank[at]], at, head[nonblank[at] + 1 :]


def _header_index(rows: Sequence[Sequence[Any]]) -> int:
    """The header is the first of the leading non-blank rows that fills at least half as
    many cells as the fullest of them: a report title or a date line above the column
    names (common in HR exports) is skipped."""
    widest = max(_filled(r) for r in rows)
    for index, row in enumerate(rows):
        if _filled(row) >= max(2, widest / 2) or widest < 2:
            return index
    return 0


def _set_headers(table: RawTable, header: Sequence[str]) -> list[int]:
    names = [unicodedata.normalize("NFC", h).strip().lstrip("\ufeff") for h in header]
    keep = [i for i, name in enumerate(names) if name]
    # Unnamed columns (trailing separators, Excel's empty columns) are dropped.
    seen: dict[str, int] = {}
    for i in keep:
        if names[i] in seen:
            raise Unprocessable(
                f"the column name {names[i]!r} appears twice in the header", field="file"
            )
        seen[names[i]] = i
    table.headers = [names[i] for i in keep]
    return keep


def records_table(
    records: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None
) -> RawTable:
    """A RawTable from dicts (a service's own rows); row numbers count from 1."""
    rows = list(records)
    headers = (
        list(columns) if columns is not None else list(dict.fromkeys(k for r in rows for k in r))
    )
    return RawTable(
        headers=headers,
        rows=[[r.get(h) for h in headers] for r in rows],
        row_numbers=list(range(1, len(rows) + 1)),
        format="records",
    )


# ------------------------------------------------------------------------------ the mapping


class ColumnMapping(BaseModel):
    """Which file columns mean what. Exactly one of ``label`` or (``hire_date`` and
    ``exit_date``) gives the outcome. Columns not named are ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    numeric: list[str] = Field(default_factory=list, max_length=500)
    categorical: list[str] = Field(default_factory=list, max_length=500)
    label: str | None = None
    positive_values: list[str] = Field(default_factory=list, max_length=50)
    negative_values: list[str] = Field(default_factory=list, max_length=50)
    hire_date: str | None = None
    exit_date: str | None = None
    horizon_days: int = Field(default=180, ge=1, le=3660)
    as_of: dt.date | None = None
    id: str | None = None
    group: str | None = None
    time: str | None = None
    protected: list[str] = Field(default_factory=list, max_length=50)
    proxies: list[str] = Field(default_factory=list, max_length=100)
    allow_leaky_names: list[str] = Field(default_factory=list, max_length=50)

    @model_validator(mode="after")
    def _one_outcome(self) -> ColumnMapping:
        dates = self.hire_date is not None or self.exit_date is not None
        if self.label is None and not (self.hire_date and self.exit_date):
            raise ValueError("give a label column, or both hire_date and exit_date")
        if self.label is not None and dates and self.exit_date is not None:
            raise ValueError("give either a label column or hire/exit dates, not both")
        return self

    def features(self) -> list[tuple[str, Literal["numeric", "categorical"]]]:
        return [(c, "numeric") for c in self.numeric] + [
            (c, "categorical") for c in self.categorical
        ]


# --------------------------------------------------------------------------- feature spec


@dataclass(frozen=True)
class Feature:
    name: str
    kind: Literal["numeric", "categorical"]
    categories: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.kind == "categorical":
            out["categories"] = list(self.categories)
        return out


@dataclass(frozen=True)
class FeatureSpec:
    """How named values become one row of the model's matrix: numbers as floats (NaN when
    missing), categories as their index in ``categories`` (NaN when missing or unseen)."""

    features: tuple[Feature, ...]

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def categorical_indices(self) -> list[int]:
        return [i for i, f in enumerate(self.features) if f.kind == "categorical"]

    def to_json(self) -> list[dict[str, Any]]:
        return [f.to_json() for f in self.features]

    @classmethod
    def from_json(cls, data: Sequence[Mapping[str, Any]]) -> FeatureSpec:
        return cls(
            tuple(Feature(d["name"], d["kind"], tuple(d.get("categories", ()))) for d in data)
        )

    def encode(self, rows: Iterable[Mapping[str, Any]]) -> np.ndarray:
        """Rows (dicts by feature name) -> float matrix; bad or unknown values become NaN."""
        rows = list(rows)
        X = np.full((len(rows), len(self.features)), np.nan, dtype=np.float64)
        for j, feat in enumerate(self.features):
            if feat.kind == "numeric":
                for i, row in enumerate(rows):
                    value, _ = parse_number(row.get(feat.name))
                    if value is not None:
                        X[i, j] = value
            else:
                index = {_category_key(c): k for k, c in enumerate(feat.categories)}
                for i, row in enumerate(rows):
                    text = parse_category(row.get(feat.name))
                    if text is not None:
                        code = index.get(_category_key(text))
                        if code is not None:
                            X[i, j] = code
        return X

    def display(self, j: int, value: float) -> str | float | None:
        """The human value of column ``j`` in a matrix row (a category's text)."""
        if value != value:  # NaN
            return None
        feat = self.features[j]
        if feat.kind == "categorical":
            k = int(value)
            return feat.categories[k] if 0 <= k < len(feat.categories) else None
        return float(value)


# ------------------------------------------------------------------------------ cell parsing


def _norm_text(value: Any) -> str:
    return unicodedata.normalize("NFKC", str(value)).strip()


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and _norm_text(value).lower() in MISSING_TOKENS


def parse_number(value: Any) -> tuple[float | None, str | None]:
    """(number or None when missing, error reason or None)."""
    if type(value) is str:
        try:  # the common case first: a plain number
            number = float(value)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return number, None
            if number != number:  # "nan"
                return None, None
            return None, f"{value[:40]!r} is not a finite number"
    if is_missing(value):
        return None, None
    if isinstance(value, bool):
        return float(value), None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, dt.datetime | dt.date):
        return None, f"{value.isoformat()!r} is a date, not a number"
    else:
        text = _norm_text(value).strip(_CURRENCY).strip().replace(" ", "")
        if text.endswith("%"):
            text = text[:-1]
        if _THOUSANDS.match(text):
            text = text.replace(",", "")
        try:
            number = float(text)
        except ValueError:
            shown = str(value)[:40]
            return None, f"{shown!r} is not a number"
    if not math.isfinite(number):
        return None, f"{value!r} is not a finite number"
    return number, None


def parse_category(value: Any) -> str | None:
    if is_missing(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return _norm_text(value)[:200]


def _category_key(text: str) -> str:
    return " ".join(text.casefold().replace("_", " ").replace("-", " ").split())


_DATE_PATTERNS = (
    re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T].*)?$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?.*$"),
)
_DMY = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")


def parse_date(value: Any) -> tuple[dt.date | None, str | None]:
    """ISO, 2024/3/1, 2024年3月1日, an XLSX date or an Excel serial number; D/M/Y refused
    when ambiguous (both parts <= 12)."""
    if is_missing(value):
        return None, None
    if isinstance(value, dt.datetime):
        return value.date(), None
    if isinstance(value, dt.date):
        return value, None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 20000 < value < 80000:  # Excel serial day numbers (1954..2119)
            return dt.date(1899, 12, 30) + dt.timedelta(days=int(value)), None
        return None, f"{value!r} is not a date"
    text = _norm_text(value)
    for pattern in _DATE_PATTERNS:
        m = pattern.match(text)
        if m:
            try:
                return dt.date(int(m[1]), int(m[2]), int(m[3])), None
            except ValueError:
                return None, f"{text[:40]!r} is not a valid date"
    m = _DMY.match(text)
    if m:
        a, b, year = int(m[1]), int(m[2]), int(m[3])
        if a <= 12 and b <= 12 and a != b:
            return None, f"{text!r} is ambiguous (day/month or month/day): use YYYY-MM-DD"
        day, month = (a, b) if a > 12 else (b, a)
        try:
            return dt.date(year, month, day), None
        except ValueError:
            return None, f"{text!r} is not a valid date"
    return None, f"{text[:40]!r} is not a date (use YYYY-MM-DD)"


def parse_label(
    value: Any, positives: frozenset[str], negatives: frozenset[str]
) -> tuple[int | None, str | None]:
    if is_missing(value):
        return None, "the label is empty"
    if isinstance(value, bool):
        return int(value), None
    if isinstance(value, int | float):
        if value in (0, 1):
            return int(value), None
        return None, f"{value!r} is not 0 or 1"
    key = _norm_text(value).casefold()
    if key in positives:
        return 1, None
    if key in negatives:
        return 0, None
    return None, f"{str(value)[:40]!r} is not a known label value (e.g. Yes/No, 是/否, 1/0)"


# --------------------------------------------------------------------------------- dataset


@dataclass
class ImportReport:
    format: str
    encoding: str | None
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    blank_rows: int
    positives: int
    negatives: int
    features: list[str]
    dropped_features: dict[str, str]
    ignored_columns: list[str]
    rejections: list[Rejection]
    rejection_counts: dict[str, int]
    title_rows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "encoding": self.encoding,
            "rows_read": self.rows_read,
            "rows_accepted": self.rows_accepted,
            "rows_rejected": self.rows_rejected,
            "blank_rows": self.blank_rows,
            "title_rows_skipped": self.title_rows,
            "positives": self.positives,
            "negatives": self.negatives,
            "positive_rate": round(self.positives / max(1, self.rows_accepted), 4),
            "features": self.features,
            "dropped_features": self.dropped_features,
            "ignored_columns": self.ignored_columns,
            "rejections": [r.to_dict() for r in self.rejections[:MAX_LISTED_REJECTIONS]],
            "rejections_listed": min(len(self.rejections), MAX_LISTED_REJECTIONS),
            "rejection_counts": self.rejection_counts,
        }


@dataclass
class Dataset:
    """What training needs. ``groups``: rows sharing a value stay in one fold (a person's
    weeks). ``time``: a sortable number (e.g. the hire date's ordinal) for validation on
    later cohorts; all rows of one group must share it."""

    spec: FeatureSpec
    X: np.ndarray
    y: np.ndarray
    row_numbers: np.ndarray
    ids: list[str] | None = None
    groups: np.ndarray | None = None
    time: np.ndarray | None = None
    protected: dict[str, list[str | None]] = field(default_factory=dict)
    report: ImportReport | None = None

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @classmethod
    def from_arrays(
        cls,
        spec: FeatureSpec,
        X: np.ndarray,
        y: np.ndarray,
        *,
        groups: np.ndarray | None = None,
        time: np.ndarray | None = None,
        ids: list[str] | None = None,
        protected: dict[str, list[str | None]] | None = None,
    ) -> Dataset:
        X = np.array(X, dtype=np.float64)  # a copy: infinities become missing
        X[np.isinf(X)] = np.nan
        y = np.asarray(y).astype(np.int8)
        if X.ndim != 2 or X.shape[1] != len(spec.features) or X.shape[0] != y.shape[0]:
            raise ValueError(
                f"X {X.shape} does not match {len(spec.features)} features / y {y.shape}"
            )
        return cls(
            spec=spec,
            X=X,
            y=y,
            row_numbers=np.arange(1, X.shape[0] + 1),
            ids=ids,
            groups=groups,
            time=None if time is None else np.asarray(time, dtype=np.float64),
            protected=protected or {},
        )


@dataclass(frozen=True)
class Limits:
    min_rows: int = 50
    min_per_class: int = 10
    max_numeric_failure_rate: float = 0.5
    max_label_failure_rate: float = 0.5
    max_categories: int = 200


def _mapping_columns(mapping: ColumnMapping) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = [("mapping.numeric", c) for c in mapping.numeric]
    pairs += [("mapping.categorical", c) for c in mapping.categorical]
    for name in ("label", "hire_date", "exit_date", "id", "group", "time"):
        value = getattr(mapping, name)
        if value:
            pairs.append((f"mapping.{name}", value))
    pairs += [("mapping.protected", c) for c in mapping.protected]
    return pairs


def check_mapping_columns(mapping: ColumnMapping, headers: Sequence[str]) -> None:
    """Every mapped column exists, and none is used twice."""
    present = set(headers)
    used: dict[str, str] = {}
    for fieldname, column in _mapping_columns(mapping):
        if column not in present:
            shown = ", ".join(headers[:60])
            raise Unprocessable(
                f"column {column!r} is not in the file (its columns: {shown})",
                field=fieldname,
                column=column,
            )
        if column in used and not (
            fieldname == "mapping.time" and used[column] == "mapping.hire_date"
        ):
            raise Unprocessable(
                f"column {column!r} is mapped twice ({used[column]} and {fieldname})",
                field=fieldname,
                column=column,
            )
        used.setdefault(column, fieldname)
    if not mapping.numeric and not mapping.categorical:
        raise Unprocessable("map at least one numeric or categorical feature", field="mapping")


def build_dataset(
    raw: RawTable,
    mapping: ColumnMapping,
    *,
    limits: Limits | None = None,
    today: dt.date | None = None,
) -> Dataset:
    """Apply ``mapping`` to ``raw``: parse every cell, reject bad rows (listed), refuse a
    mapping that cannot work (``Unprocessable``), and refuse leaking or protected feature
    columns by name (see ``leakage.check_feature_names``)."""
    from zhanli_shared.ml.leakage import check_feature_names

    limits = limits or Limits()
    check_mapping_columns(mapping, raw.headers)
    check_feature_names(mapping)
    col = {h: i for i, h in enumerate(raw.headers)}
    n = len(raw.rows)
    if n == 0:
        raise Unprocessable("the file has a header but no data rows", field="file")
    rejected: dict[int, list[Rejection]] = {}

    def reject(i: int, column: str | None, reason: str) -> None:
        rejected.setdefault(i, []).append(Rejection(raw.row_numbers[i], column, reason))

    # Outcome.
    y = np.zeros(n, dtype=np.int8)
    time = np.full(n, np.nan)
    if mapping.label is not None:
        positives = POSITIVE_LABELS | {_norm_text(v).casefold() for v in mapping.positive_values}
        negatives = NEGATIVE_LABELS | {_norm_text(v).casefold() for v in mapping.negative_values}
        if mapping.positive_values or mapping.negative_values:
            # Explicit values replace the defaults they contradict.
            positives -= {_norm_text(v).casefold() for v in mapping.negative_values}
            negatives -= {_norm_text(v).casefold() for v in mapping.positive_values}
        j = col[mapping.label]
        failures: Counter[str] = Counter()
        for i, row in enumerate(raw.rows):
            value, error = parse_label(row[j], positives, negatives)
            if error:
                reject(i, mapping.label, error)
                if not is_missing(row[j]):
                    failures[_norm_text(row[j])[:40]] += 1
            else:
                y[i] = value or 0
        if sum(failures.values()) > limits.max_label_failure_rate * n:
            shown = ", ".join(repr(v) for v, _ in failures.most_common(5))
            raise Unprocessable(
                f"the label column {mapping.label!r} has values that are not yes/no ({shown}): "
                "name them in positive_values / negative_values",
                field="mapping.label",
            )
    else:
        assert mapping.hire_date and mapping.exit_date
        _label_from_dates(raw, mapping, col, y, time, reject, today)

    if mapping.time and mapping.time != mapping.hire_date:
        j = col[mapping.time]
        for i, row in enumerate(raw.rows):
            number, error = parse_number(row[j])
            if number is None:
                day, derr = parse_date(row[j])
                if day is not None:
                    number = float(day.toordinal())
                else:
                    reject(i, mapping.time, derr or error or "the cohort/time is empty")
                    continue
            time[i] = number
    elif mapping.time and mapping.label is not None:
        j = col[mapping.time]
        for i, row in enumerate(raw.rows):
            day, derr = parse_date(row[j])
            if day is None:
                reject(i, mapping.time, derr or "the hire date is empty")
            else:
                time[i] = day.toordinal()

    # Ids (duplicates rejected) and groups.
    ids: list[str] | None = None
    if mapping.id:
        j = col[mapping.id]
        first: dict[str, int] = {}
        ids = []
        for i, row in enumerate(raw.rows):
            key = parse_category(row[j])
            ids.append(key or "")
            if key is None:
                reject(i, mapping.id, "the id is empty")
            elif key in first and not mapping.group == mapping.id:
                reject(
                    i,
                    mapping.id,
                    f"duplicate id {key!r} (first at row {raw.row_numbers[first[key]]})",
                )
            else:
                first.setdefault(key, i)
    groups: np.ndarray | None = None
    if mapping.group:
        j = col[mapping.group]
        groups = np.array([parse_category(row[j]) or "" for row in raw.rows], dtype=object)

    # Features.
    features = mapping.features()
    X = np.full((n, len(features)), np.nan)
    categories: list[tuple[str, ...]] = []
    for k, (name, kind) in enumerate(features):
        j = col[name]
        if kind == "numeric":
            bad: list[str] = []
            present = 0
            for i, row in enumerate(raw.rows):
                number, error = parse_number(row[j])
                if error:
                    reject(i, name, error)
                    bad.append(str(row[j])[:30])
                    present += 1
                elif number is not None:
                    X[i, k] = number
                    present += 1
            if bad and len(bad) > limits.max_numeric_failure_rate * max(1, present):
                raise Unprocessable(
                    f"column {name!r} is mapped as numeric but {len(bad):,} of {present:,} "
                    f"values are not numbers (e.g. {bad[0]!r}): map it as categorical",
                    field="mapping.numeric",
                    column=name,
                )
            categories.append(())
        else:
            spellings: dict[str, Counter[str]] = {}
            keys: list[str | None] = []
            seen_cells: dict[tuple[type, Any], tuple[str | None, str | None]] = {}
            for row in raw.rows:
                cell = row[j]
                try:  # by type too: True == 1 == 1.0 would share an entry
                    text, key = seen_cells[type(cell), cell]
                except (KeyError, TypeError):  # first time, or unhashable
                    text = parse_category(cell)
                    key = None if text is None else _category_key(text)
                    if len(seen_cells) < 10_000:
                        seen_cells[type(cell), cell] = (text, key)
                if text is None or key is None:
                    keys.append(None)
                    continue
                spellings.setdefault(key, Counter())[text] += 1
                keys.append(key)
            # One category per case/spacing-insensitive key, shown in its commonest spelling.
            spelled = {key: c.most_common(1)[0][0] for key, c in spellings.items()}
            ordered = sorted(spelled, key=lambda key: spelled[key])
            codes = {key: c for c, key in enumerate(ordered)}
            for i, key in enumerate(keys):
                if key is not None:
                    X[i, k] = codes[key]
            distinct = len(ordered)
            if distinct > limits.max_categories or (n >= 20 and distinct > 0.9 * n):
                raise Unprocessable(
                    f"column {name!r} has {distinct:,} different values in {n:,} rows: an "
                    "identifier or free text, not a categorical feature",
                    field="mapping.categorical",
                    column=name,
                )
            categories.append(tuple(spelled[key] for key in ordered))

    protected: dict[str, list[str | None]] = {}
    for name in mapping.protected:
        j = col[name]
        protected[name] = [parse_category(row[j]) for row in raw.rows]

    keep = np.array([i not in rejected for i in range(n)], dtype=bool)
    accepted = int(keep.sum())
    X, y = X[keep], y[keep]
    row_numbers = np.asarray(raw.row_numbers)[keep]
    time_kept = time[keep]
    has_time = bool(mapping.time) or mapping.label is None
    # Constant features carry nothing: dropped and said so.
    spec_features: list[Feature] = []
    dropped: dict[str, str] = {}
    columns: list[int] = []
    for k, (name, kind) in enumerate(features):
        values = X[:, k]
        finite = values[~np.isnan(values)]
        if finite.size == 0:
            dropped[name] = "empty in every accepted row"
        elif np.all(finite == finite[0]) and finite.size == values.size:
            dropped[name] = "the same value in every accepted row"
        else:
            spec_features.append(Feature(name, kind, categories[k]))
            columns.append(k)
    if not spec_features:
        raise Unprocessable("no mapped feature has more than one value", field="mapping")
    X = X[:, columns]

    all_rejections = [r for i in sorted(rejected) for r in rejected[i]]
    counts = Counter(f"{r.column or 'row'}: {_reason_kind(r.reason)}" for r in all_rejections)
    positives_n = int(y.sum())
    report = ImportReport(
        format=raw.format,
        encoding=raw.encoding,
        rows_read=n + len(raw.rejections),
        rows_accepted=accepted,
        rows_rejected=len(rejected) + len(raw.rejections),
        blank_rows=raw.blank_rows,
        positives=positives_n,
        negatives=accepted - positives_n,
        features=[f.name for f in spec_features],
        dropped_features=dropped,
        ignored_columns=[
            h for h in raw.headers if h not in {c for _, c in _mapping_columns(mapping)}
        ],
        rejections=raw.rejections + all_rejections,
        rejection_counts=dict(counts.most_common()),
        title_rows=raw.title_rows,
    )
    label_field = "mapping.label" if mapping.label else "mapping.exit_date"
    if accepted < limits.min_rows:
        raise Unprocessable(
            f"only {accepted:,} of {n:,} rows are usable; at least {limits.min_rows} are needed "
            "to learn anything",
            field="file",
            report=report.to_dict(),
        )
    if positives_n == 0 or positives_n == accepted:
        only = "positive" if positives_n else "negative"
        raise Unprocessable(
            f"the outcome is the same ({only}) in all {accepted:,} accepted rows: nothing to learn",
            field=label_field,
            report=report.to_dict(),
        )
    minority = min(positives_n, accepted - positives_n)
    if minority < limits.min_per_class:
        raise Unprocessable(
            f"only {minority} rows of the rarer outcome ({positives_n} positive, "
            f"{accepted - positives_n} negative); at least {limits.min_per_class} are needed",
            field=label_field,
            report=report.to_dict(),
        )
    return Dataset(
        spec=FeatureSpec(tuple(spec_features)),
        X=X,
        y=y,
        row_numbers=row_numbers,
        ids=None if ids is None else [ids[i] for i in np.flatnonzero(keep)],
        groups=None if groups is None else groups[keep],
        time=time_kept if has_time else None,
        protected={k: [v[i] for i in np.flatnonzero(keep)] for k, v in protected.items()},
        report=report,
    )


def _reason_kind(reason: str) -> str:
    if "not a number" in reason:
        return "not a number"
    if "duplicate id" in reason:
        return "duplicate id"
    if "not a known label" in reason:
        return "unknown label value"
    if reason.startswith("censored"):
        return "censored (watched less than the horizon)"
    if "not a date" in reason or "ambiguous" in reason:
        return "not a date"
    return reason if len(reason) < 60 else reason[:57] + "..."


def _label_from_dates(
    raw: RawTable,
    mapping: ColumnMapping,
    col: dict[str, int],
    y: np.ndarray,
    time: np.ndarray,
    reject: Any,
    today: dt.date | None,
) -> None:
    """label = left within ``horizon_days`` of the hire date. People hired too recently to
    have been watched for the whole horizon (and still there) are censored: rejected with
    that reason rather than counted as stayers. ``as_of`` defaults to the latest date in the
    file."""
    assert mapping.hire_date and mapping.exit_date
    jh, je = col[mapping.hire_date], col[mapping.exit_date]
    hires: list[dt.date | None] = []
    exits: list[dt.date | None] = []
    for i, row in enumerate(raw.rows):
        hired, herr = parse_date(row[jh])
        left, eerr = parse_date(row[je])
        if herr or hired is None:
            reject(i, mapping.hire_date, herr or "the hire date is empty")
        if eerr:
            reject(i, mapping.exit_date, eerr)
        if hired and left and left < hired:
            reject(i, mapping.exit_date, f"exit {left} is before hire {hired}")
        hires.append(hired)
        exits.append(left)
    seen = [d for d in hires + exits if d is not None]
    as_of = mapping.as_of or (max(seen) if seen else today or dt.date.today())
    horizon = dt.timedelta(days=mapping.horizon_days)
    for i, (hired, left) in enumerate(zip(hires, exits, strict=True)):
        if hired is None:
            continue
        time[i] = hired.toordinal()
        if left is not None and left <= hired + horizon:
            y[i] = 1
        elif left is None and hired + horizon > as_of:
            reject(
                i,
                mapping.hire_date,
                f"censored: hired {hired}, watched {(as_of - hired).days} of "
                f"{mapping.horizon_days} days",
            )
