"""Learning paths: one per new hire, its items (courses with dates and progress) and the
history of every change (generated, adjusted by HR, added by a KPI recommendation)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_learning.db import Base
from zhanli_shared.db import TZDateTime


class LearningPath(Base):
    __tablename__ = "learning_paths"

    path_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    employee_id: Mapped[str] = mapped_column(String(64), unique=True)
    job_family: Mapped[str] = mapped_column(String(64))
    start_on: Mapped[dt.date] = mapped_column(Date)
    probation_ends_on: Mapped[dt.date] = mapped_column(Date)
    weekly_hours: Mapped[float] = mapped_column(Float)
    gaps: Mapped[dict[str, Any]] = mapped_column(JSON)
    open_gaps: Mapped[dict[str, Any]] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, default=1)
    source: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class PathItem(Base):
    __tablename__ = "learning_path_items"
    __table_args__ = (UniqueConstraint("path_id", "course_id"),)

    item_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    path_id: Mapped[str] = mapped_column(ForeignKey("learning_paths.path_id"), index=True)
    employee_id: Mapped[str] = mapped_column(String(64), index=True)
    course_id: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(20))  # required|gap|prerequisite|hr|kpi
    closes: Mapped[dict[str, Any]] = mapped_column(JSON)
    start_on: Mapped[dt.date] = mapped_column(Date)
    due_on: Mapped[dt.date] = mapped_column(Date)
    within_probation: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(20))  # planned|started|completed|removed
    started_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
    completed_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
    quiz_score: Mapped[int | None] = mapped_column(Integer)
    reminded_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
    escalated_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
    note: Mapped[str | None] = mapped_column(String(500))


class PathChange(Base):
    """Every change of a path, kept (the audit service chains the same facts)."""

    __tablename__ = "learning_path_changes"

    change_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    path_id: Mapped[str] = mapped_column(ForeignKey("learning_paths.path_id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(TZDateTime())
