"""The feature store: people with their hire and separation, and their dated signals."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_retention.db import Base
from zhanli_shared.db import TZDateTime


class RetentionPerson(Base):
    """A person as retention sees them: hire, separation (date and reason, the model's
    label), manager, mentor. ``protected`` (gender, age band) is kept only for the
    fairness report: it is never read into a feature."""

    __tablename__ = "retention_people"

    employee_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    hired_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    left_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    exit_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="active")
    manager_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    mentor_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    org_path: Mapped[list[str]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(20), default="events")
    protected: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class RetentionSignal(Base):
    """One dated fact about a person (a training completion rate, a mentor rating, a day's
    growth...). Snapshots read the facts observed on or before their day."""

    __tablename__ = "retention_signals"
    __table_args__ = (Index("ix_retention_signals_person_day", "employee_id", "observed_on"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    employee_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(40))
    value: Mapped[float] = mapped_column(Float)
    observed_on: Mapped[dt.date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
