"""Scores: each person's weighted score per period (with its breakdown, locked when the
period closes), the day's latest score (for daily growth) and the periods' state."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_kpi.db import Base
from zhanli_shared.db import TZDateTime


class Score(Base):
    __tablename__ = "kpi_scores"

    employee_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    score: Mapped[float] = mapped_column(Float)  # rounded to 4 decimals; 1.0 = 100 %
    bonus: Mapped[float] = mapped_column(Float, default=0.0)
    plan_id: Mapped[str | None] = mapped_column(String(64))
    plan_version: Mapped[int | None] = mapped_column(Integer)
    breakdown: Mapped[list[Any]] = mapped_column(JSON)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    calculated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class DailyScore(Base):
    __tablename__ = "kpi_daily_scores"

    employee_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    period: Mapped[str] = mapped_column(String(7))
    score: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class Period(Base):
    __tablename__ = "kpi_periods"

    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    status: Mapped[str] = mapped_column(String(10))  # closed (open periods have no row)
    closed_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    closed_by: Mapped[str] = mapped_column(String(64))
    people: Mapped[int] = mapped_column(Integer, default=0)
