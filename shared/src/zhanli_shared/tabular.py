"""Reading a spreadsheet upload (CSV or XLSX) one row at a time, straight from the request
stream (the directory's HRIS import, the learning catalogue's import...).

No database and no web framework here: an async iterator of byte chunks in,
``Record(row, values)`` out, ``values`` keyed by the caller's canonical column names
(``columns``: canonical name -> accepted headers; ``required``: the names that must be
present).

- **CSV** is decoded as the bytes arrive and never held whole: UTF-8 (with or without a
  byte-order mark) or GBK/GB18030 (what Chinese HR systems export). A ``charset`` in the
  ``Content-Type`` wins; otherwise the first non-ASCII bytes decide (valid UTF-8 -> UTF-8,
  else GB18030, a superset of GBK and GB2312). Quoted fields may span lines (RFC 4180).
  Comma-separated, or tab-separated when the header has tabs and no commas.
- **XLSX** is spooled to a temporary file (a zip needs seeking) and read with openpyxl in
  read-only mode, a slice of rows at a time in a worker thread; the first sheet is read.
- Row numbers are the spreadsheet's (the header is row 1). Blank rows are skipped.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import re
import tempfile
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPES = frozenset({"text/csv", "application/csv"})
MAX_RECORD_CHARS = 64 * 1024  # one CSV record (an unbalanced quote would swallow the file)
XLSX_SPOOL_IN_MEMORY = 1024 * 1024
_DECIDE_AFTER = 4096  # bytes after the first non-ASCII one that decide the encoding


def _norm(header: str) -> str:
    return re.sub(r"[\s\-]+", "_", header.strip().lstrip("\ufeff").lower())


def aliases(columns: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    return {_norm(alias): canonical for canonical, names in columns.items() for alias in names}


class FileError(Exception):
    """The file as a whole cannot be read (encoding, header, not a spreadsheet)."""

    def __init__(self, message: str, *, field: str = "file", row: int | None = None) -> None:
        super().__init__(message)
        self.message, self.field, self.row = message, field, row


@dataclass(frozen=True)
class Record:
    row: int
    values: dict[str, Any]  # canonical column -> cell (str for CSV; str/number/date for XLSX)


def map_header(
    cells: list[Any], columns: Mapping[str, tuple[str, ...]], required: Iterable[str]
) -> tuple[list[str | None], list[str]]:
    """(canonical name or None per column, the headers that were not recognised)."""
    known = aliases(columns)
    mapped: list[str | None] = []
    ignored: list[str] = []
    seen: dict[str, str] = {}
    for cell in cells:
        text = "" if cell is None else str(cell)
        canonical = known.get(_norm(text))
        if canonical is None:
            if text.strip():
                ignored.append(text.strip())
            mapped.append(None)
            continue
        if canonical in seen:
            raise FileError(
                f"Columns {seen[canonical]!r} and {text.strip()!r} both mean {canonical!r}.",
                field=canonical,
                row=1,
            )
        seen[canonical] = text.strip()
        mapped.append(canonical)
    missing = [c for c in required if c not in seen]
    if missing:
        names = ", ".join(f"{columns[c][0]}/{c}" for c in missing)
        raise FileError(f"The header row lacks the column(s) {names}.", field=missing[0], row=1)
    return mapped, ignored


def _blank(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


async def records(
    rows: AsyncIterator[tuple[int, list[Any]]],
    columns: Mapping[str, tuple[str, ...]],
    required: Iterable[str],
    header_out: list[list[str]] | None = None,
) -> AsyncIterator[Record]:
    """Map raw rows to records with canonical keys; the first non-blank row is the header.
    ``header_out`` (optional) receives the ignored header names."""
    mapping: list[str | None] | None = None
    async for number, cells in rows:
        if all(_blank(c) for c in cells):
            continue
        if mapping is None:
            mapping, ignored = map_header(cells, columns, required)
            if header_out is not None:
                header_out.append(ignored)
            continue
        values: dict[str, Any] = {}
        for name, cell in zip(mapping, cells, strict=False):
            if name is not None:
                values[name] = cell
        if len(cells) > len(mapping) and any(not _blank(c) for c in cells[len(mapping) :]):
            values["__extra__"] = True
        yield Record(number, values)
    if mapping is None:
        raise FileError("The file is empty: no header row.", row=1)


# --- CSV --------------------------------------------------------------------------------


def _codec(charset: str) -> str:
    name = charset.strip().strip('"').lower()
    if name in {"gbk", "gb2312", "gb18030", "cp936", "x-gbk"}:
        return "gb18030"
    try:
        info = codecs.lookup(name)
    except LookupError as exc:
        raise FileError(f"Unknown charset {charset[:40]!r}.", field="content-type") from exc
    if not getattr(info, "_is_text_encoding", True):  # rot13, base64, zlib...
        raise FileError(f"{charset[:40]!r} is not a text encoding.", field="content-type")
    return info.name


class StreamDecoder:
    """Bytes to text as they arrive: BOM, declared charset, or sniffed UTF-8 / GB18030."""

    def __init__(self, charset: str | None = None) -> None:
        self.encoding: str | None = _codec(charset) if charset else None
        self._decoder: codecs.IncrementalDecoder | None = None
        self._pending = b""
        self._start = True
        self._offset = 0

    def _open(self, encoding: str) -> None:
        self.encoding = encoding
        self._decoder = codecs.getincrementaldecoder(encoding)("strict")

    def _decode(self, data: bytes, final: bool) -> str:
        assert self._decoder is not None
        try:
            text = self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            raise FileError(
                f"The file is not valid {self.encoding} text (near byte "
                f"{self._offset + exc.start}); save it as UTF-8 or declare "
                "'Content-Type: text/csv; charset=gbk'.",
                field="encoding",
            ) from exc
        self._offset += len(data)
        return text

    def feed(self, chunk: bytes, final: bool = False) -> str:
        if self._decoder is not None:
            return self._decode(chunk, final)
        data = self._pending + chunk
        if self._start:
            if len(data) < 3 and not final and codecs.BOM_UTF8.startswith(data):
                self._pending = data
                return ""
            self._start = False
            if data.startswith(codecs.BOM_UTF8):
                self._offset += 3
                data = data[3:]
                if self.encoding in (None, "utf-8"):
                    self.encoding = "utf-8"
        if self.encoding is not None:
            self._open(self.encoding)
            self._pending = b""
            return self._decode(data, final)
        first = next((i for i, b in enumerate(data) if b >= 0x80), None)
        if first is None:  # plain ASCII so far: the same in either encoding
            self._pending = b""
            self._offset += len(data)
            return data.decode("ascii")
        head = data[:first].decode("ascii")
        self._offset += first
        rest = data[first:]
        if len(rest) < _DECIDE_AFTER and not final:
            self._pending = rest
            return head
        try:
            codecs.getincrementaldecoder("utf-8")("strict").decode(rest, final)
            encoding = "utf-8"
        except UnicodeDecodeError:
            encoding = "gb18030"
        self._pending = b""
        self._open(encoding)
        return head + self._decode(rest, final)


async def csv_rows(
    chunks: AsyncIterator[bytes], charset: str | None = None
) -> AsyncIterator[tuple[int, list[str]]]:
    """(row number, cells) of a CSV body, parsed as it arrives."""
    decoder = StreamDecoder(charset)
    buffered = ""
    record = ""
    quotes = 0
    number = 0
    delimiter: str | None = None

    def parse(text: str) -> list[str]:
        nonlocal delimiter
        text = text.rstrip("\r\n")
        if delimiter is None:
            delimiter = "\t" if "\t" in text and "," not in text else ","
        try:
            return next(csv.reader([text], delimiter=delimiter, strict=True), [])
        except csv.Error as exc:
            raise FileError(f"Row {number}: {exc}.", row=number) from exc

    def lines(texts: list[str]) -> Iterator[tuple[int, list[str]]]:
        nonlocal record, quotes, number
        for line in texts:
            if not record:
                number += 1
            record += line
            quotes += line.count('"')
            if quotes % 2 == 0:
                cells = parse(record)
                record, quotes = "", 0
                yield number, cells
            elif len(record) > MAX_RECORD_CHARS:
                raise FileError(f"Row {number}: a quoted field is never closed.", row=number)

    async for chunk in chunks:
        buffered += decoder.feed(chunk)
        *complete, buffered = buffered.split("\n")
        if len(buffered) > MAX_RECORD_CHARS:
            raise FileError(f"Row {number + 1}: the line is too long.", row=number + 1)
        for row in lines([line + "\n" for line in complete]):
            yield row
    buffered += decoder.feed(b"", final=True)
    tail = [line + "\n" for line in buffered.split("\n")]
    tail[-1] = tail[-1][:-1]
    for row in lines([line for line in tail if line]):
        yield row
    if record:
        raise FileError(f"Row {number}: a quoted field is never closed.", row=number)


# --- XLSX -------------------------------------------------------------------------------


async def xlsx_rows(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, list[Any]]]:
    """(row number, cell values) of the first sheet of an XLSX body."""
    from openpyxl import load_workbook

    spool = tempfile.SpooledTemporaryFile(max_size=XLSX_SPOOL_IN_MEMORY)
    try:
        async for chunk in chunks:
            spool.write(chunk)  # a local file write of one received chunk
        spool.seek(0)
        try:
            book = await asyncio.to_thread(load_workbook, spool, read_only=True, data_only=True)
        except Exception as exc:  # zip, XML and openpyxl's own errors alike
            raise FileError("The body is not a readable XLSX workbook.") from exc
        try:
            sheet = book.worksheets[0]
            rows = sheet.iter_rows()
            number = 0

            def take() -> list[tuple[int | None, list[Any]]]:
                out = []
                for _, cells in zip(range(500), rows, strict=False):
                    at = next((c.row for c in cells if getattr(c, "row", None)), None)
                    out.append((at, [c.value for c in cells]))
                return out

            while True:
                try:
                    batch = await asyncio.to_thread(take)
                except Exception as exc:
                    raise FileError(f"The sheet cannot be read after row {number}.") from exc
                if not batch:
                    break
                for at, values in batch:
                    number = at or number + 1  # the sheet's own row number
                    yield number, values
        finally:
            book.close()
    finally:
        spool.close()


def content_type(header: str) -> tuple[str, str | None]:
    """(media type, charset) of a ``Content-Type`` header; FileError (field
    ``content-type``, status 415 for the caller) when it is neither CSV nor XLSX."""
    media_type, _, params = header.partition(";")
    media_type = media_type.strip().lower()
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
    if media_type not in CSV_MEDIA_TYPES and media_type != XLSX_MEDIA_TYPE:
        raise FileError(
            f"Send the file as text/csv or {XLSX_MEDIA_TYPE} (the raw body).",
            field="content-type",
        )
    return media_type, charset


def stream_rows(
    chunks: AsyncIterator[bytes], media_type: str, charset: str | None
) -> AsyncIterator[tuple[int, list[Any]]]:
    if media_type == XLSX_MEDIA_TYPE:
        return xlsx_rows(chunks)
    return csv_rows(chunks, charset)
