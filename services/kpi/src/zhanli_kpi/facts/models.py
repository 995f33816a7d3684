"""Facts (one measured value of one indicator for one person), the period aggregates kept
from them, and the file imports."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_kpi.db import Base
from zhanli_shared.db import TZDateTime


class Fact(Base):
    __tablename__ = "kpi_facts"
    __table_args__ = (UniqueConstraint("source", "source_id"),)

    fact_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    source_id: Mapped[str] = mapped_column(String(128))
    employee_id: Mapped[str] = mapped_column(String(64), index=True)
    indicator: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(7))  # the period it counts in
    original_period: Mapped[str | None] = mapped_column(String(7))  # closed: an adjustment
    value: Mapped[float] = mapped_column(Float)
    occurred_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    received_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    note: Mapped[str | None] = mapped_column(String(500))


class IndicatorValue(Base):
    """The running aggregate of an indicator in a period for a person, or for a unit
    (``scope_id`` = ``unit:<id>``, kept for units with a team target)."""

    __tablename__ = "kpi_values"

    scope_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    indicator: Mapped[str] = mapped_column(String(64), primary_key=True)
    total: Mapped[float] = mapped_column(Float)
    count: Mapped[int] = mapped_column(Integer)
    latest: Mapped[float | None] = mapped_column(Float)
    latest_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class FactImport(Base):
    __tablename__ = "kpi_fact_imports"

    import_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))  # running | finished | failed
    media_type: Mapped[str] = mapped_column(String(100))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_applied: Mapped[int] = mapped_column(Integer, default=0)
    rows_duplicate: Mapped[int] = mapped_column(Integer, default=0)
    rows_failed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
