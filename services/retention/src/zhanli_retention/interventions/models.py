"""Interventions: who did what for whom and when, the risk at the time, the outcome."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, Float, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_retention.db import Base
from zhanli_shared.db import TZDateTime


class Intervention(Base):
    __tablename__ = "retention_interventions"
    __table_args__ = (Index("ix_retention_interventions_person", "employee_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    employee_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(40))
    note: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    started_on: Mapped[dt.date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    risk_at_time: Mapped[float | None] = mapped_column(Float, nullable=True)
    rules_score_at_time: Mapped[float | None] = mapped_column(Float, nullable=True)
    band_at_time: Mapped[str | None] = mapped_column(String(10), nullable=True)
    basis_at_time: Mapped[str | None] = mapped_column(String(20), nullable=True)
    model_version: Mapped[int | None] = mapped_column(nullable=True)
    outcome: Mapped[str] = mapped_column(String(20), default="pending")  # pending/stayed/left
    outcome_note: Mapped[str] = mapped_column(Text, default="")
    outcome_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    outcome_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime(), nullable=True)
