"""Each active person's current score, and the daily history of risk (for the effect
report's matching on risk at the time)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_retention.db import Base
from zhanli_shared.db import TZDateTime


class RetentionScore(Base):
    __tablename__ = "retention_scores"
    __table_args__ = (Index("ix_retention_scores_band", "band"),)

    employee_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    basis: Mapped[str] = mapped_column(String(20))  # model or rules
    basis_reason: Mapped[str] = mapped_column(String(500), default="")
    model_name: Mapped[str | None] = mapped_column(String(120), nullable=True)
    model_version: Mapped[int | None] = mapped_column(nullable=True)
    risk_30: Mapped[float | None] = mapped_column(Float, nullable=True)
    risk_60: Mapped[float | None] = mapped_column(Float, nullable=True)
    risk_90: Mapped[float | None] = mapped_column(Float, nullable=True)
    band: Mapped[str] = mapped_column(String(10))
    previous_band: Mapped[str | None] = mapped_column(String(10), nullable=True)
    rules_band: Mapped[str] = mapped_column(String(10))
    rules_fired: Mapped[list[str]] = mapped_column(JSON, default=list)
    factors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    interventions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    features: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    scored_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    alerted_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime(), nullable=True)


class RiskHistory(Base):
    __tablename__ = "retention_risk_history"

    employee_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    risk_90: Mapped[float | None] = mapped_column(Float, nullable=True)
    rules_score: Mapped[float] = mapped_column(Float)
    band: Mapped[str] = mapped_column(String(10))
