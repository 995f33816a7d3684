"""Facts from a file (CSV UTF-8/GBK or XLSX), read as the body arrives
(``zhanli_shared.tabular``, the directory import's reader): valid rows are applied, bad
rows reported with their row, column and reason; importing the same file again changes
nothing (each row's ``source_id``, or a digest of the row when the file has none).

Columns (Chinese or English headers): 工号/employee_id, 指标/indicator (its code or its
Chinese or English name), 数值/value, 日期/occurred_at (a date: noon in the company time
zone; a time without a zone: company time) are required; 单据号/source_id, 来源/source,
备注/note are optional. Rows go through ``service.ingest`` in batches, each its own
transaction with the job record (``GET /facts/imports/{id}`` shows the progress).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import uuid
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zhanli_kpi.facts import service
from zhanli_kpi.facts.models import FactImport
from zhanli_kpi.facts.schemas import FactIn
from zhanli_kpi.indicators import repository as indicators
from zhanli_kpi.settings import KpiSettings
from zhanli_shared import tabular
from zhanli_shared.auth import Principal
from zhanli_shared.db import utcnow
from zhanli_shared.events.outbox import Publisher

BATCH_ROWS = 500
MAX_ERRORS = 1000
COLUMNS: dict[str, tuple[str, ...]] = {
    "employee_id": ("工号", "员工工号", "employee_id", "employee_no"),
    "indicator": ("指标", "指标编码", "指标名称", "indicator", "kpi"),
    "value": ("数值", "值", "实际值", "value", "actual"),
    "occurred_at": ("日期", "发生时间", "业务日期", "occurred_at", "date", "time"),
    "source_id": ("单据号", "来源编号", "编号", "source_id", "id"),
    "source": ("来源", "来源系统", "source"),
    "note": ("备注", "说明", "note", "remark"),
}
REQUIRED = ("employee_id", "indicator", "value", "occurred_at")


def records(
    chunks: AsyncIterator[bytes], media_type: str, charset: str | None
) -> AsyncIterator[tabular.Record]:
    rows = tabular.stream_rows(chunks, media_type, charset)
    return tabular.records(rows, COLUMNS, REQUIRED)


class RowError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _when(value: Any, tz: str) -> dt.datetime:
    zone = ZoneInfo(tz)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, 12, tzinfo=zone)
    text = _text(value).replace("/", "-").replace("年", "-").replace("月", "-").rstrip("日")
    try:
        if len(text) <= 10:
            day = dt.date.fromisoformat("-".join(p.zfill(2) for p in text.split("-")))
            return dt.datetime(day.year, day.month, day.day, 12, tzinfo=zone)
        moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise RowError("occurred_at", "Not a date: write it as YYYY-MM-DD.") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _value(value: Any) -> float:
    if isinstance(value, bool):
        raise RowError("value", "Not a number.")
    if isinstance(value, int | float):
        number = float(value)
    else:
        # "1,200" and "95%" (a percentage stays in percent: the indicator's unit is %)
        text = _text(value).replace(",", "").replace("，", "").rstrip("%")
        try:
            number = float(text)
        except ValueError as exc:
            raise RowError("value", f"Not a number: {text[:40]!r}.") from exc
    if not math.isfinite(number):
        raise RowError("value", "Not a finite number.")
    return number


class FactImporter:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        publisher: Publisher,
        settings: KpiSettings,
        *,
        actor: Principal,
        media_type: str,
        dry_run: bool,
    ) -> None:
        self.sessions, self.publisher, self.settings = sessions, publisher, settings
        self.actor, self.media_type, self.dry_run = actor, media_type, dry_run
        self.import_id = str(uuid.uuid4())
        self.names: dict[str, str] = {}
        self.read = self.applied = self.duplicate = self.failed = 0
        self.errors: list[dict[str, Any]] = []
        self.file_error: tabular.FileError | None = None

    def error(self, row: int, field: str, message: str) -> None:
        self.failed += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"row": row, "field": field, "message": message})

    async def _store(self, session: AsyncSession, status: str) -> FactImport:
        job = await session.get(FactImport, self.import_id)
        if job is None:
            job = FactImport(
                import_id=self.import_id,
                media_type=self.media_type,
                dry_run=self.dry_run,
                created_by=self.actor.subject,
                created_at=utcnow(),
            )
            session.add(job)
        job.status = status
        job.rows_read, job.rows_applied = self.read, self.applied
        job.rows_duplicate, job.rows_failed = self.duplicate, self.failed
        job.errors = sorted(self.errors, key=lambda e: (e["row"], e["field"]))
        job.updated_at = utcnow()
        if status != "running":
            job.finished_at = utcnow()
        await session.flush()
        return job

    async def run(self, records: AsyncIterator[tabular.Record]) -> FactImport:
        async with self.sessions() as session:
            for code, ind in (await indicators.all_indicators(session)).items():
                self.names[code] = code
                self.names[ind.name_zh] = code
                self.names[ind.name_en.lower()] = code
            await self._store(session, "running")
            await session.commit()
        batch: list[tuple[int, FactIn]] = []
        try:
            async for record in records:
                self.read += 1
                item = self._item(record)
                if item is not None:
                    batch.append((record.row, item))
                if len(batch) >= BATCH_ROWS:
                    await self._apply(batch)
                    batch = []
            await self._apply(batch)
            status = "finished"
        except tabular.FileError as exc:
            self.file_error = exc
            self.error(exc.row or 0, exc.field, exc.message)
            self.failed -= 1  # the file, not a row
            status = "failed"
        async with self.sessions() as session:
            job = await self._store(session, status)
            await session.commit()
            await session.refresh(job)
        return job

    def _item(self, record: tabular.Record) -> FactIn | None:
        v = record.values
        try:
            if v.get("__extra__"):
                raise RowError("row", "More cells than header columns.")
            indicator_text = _text(v.get("indicator"))
            code = self.names.get(indicator_text) or self.names.get(indicator_text.lower())
            if not code:
                raise RowError("indicator", f"Unknown indicator {indicator_text[:60]!r}.")
            employee_id = _text(v.get("employee_id"))
            value = _value(v.get("value"))
            at = _when(v.get("occurred_at"), self.settings.timezone)
            source_id = _text(v.get("source_id"))
            if not source_id:
                digest = f"{employee_id}|{code}|{value!r}|{at.isoformat()}"
                source_id = "row-" + hashlib.sha256(digest.encode()).hexdigest()[:32]
            return FactIn(
                source=_text(v.get("source")) or "import",
                source_id=source_id,
                employee_id=employee_id,
                indicator=code,
                value=value,
                occurred_at=at,
                note=_text(v.get("note")) or None,
            )
        except RowError as exc:
            self.error(record.row, exc.field, exc.message)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            self.error(record.row, str(first["loc"][0]) if first["loc"] else "row", first["msg"])
        return None

    async def _apply(self, batch: list[tuple[int, FactIn]]) -> None:
        if not batch:
            return
        async with self.sessions() as session:
            outcome = await service.ingest(
                session,
                self.publisher,
                self.settings,
                [item for _, item in batch],
                refresh=not self.dry_run,
            )
            for (row, _), result in zip(batch, outcome.results, strict=True):
                if result.status == "created":
                    self.applied += 1
                elif result.status == "duplicate":
                    self.duplicate += 1
                else:
                    err = result.errors[0]
                    self.error(row, err.field, err.message)
            if self.dry_run:
                await session.rollback()
            await self._store(session, "running")
            await session.commit()
