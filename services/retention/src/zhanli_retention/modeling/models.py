"""Training runs (progress, outcome) and the service's configuration (rules, bands)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Float, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_retention.db import Base
from zhanli_shared.db import TZDateTime


class TrainingRun(Base):
    """One training of the hazard model (on demand, on the schedule, or from an import)."""

    __tablename__ = "retention_training_runs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    trigger: Mapped[str] = mapped_column(String(20))  # manual, schedule, import
    status: Mapped[str] = mapped_column(String(20))  # running, done, failed, insufficient
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stage: Mapped[str] = mapped_column(String(200), default="")
    requested_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    started_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime(), nullable=True)
    model_name: Mapped[str] = mapped_column(String(120))
    model_version: Mapped[int | None] = mapped_column(nullable=True)
    activated: Mapped[bool] = mapped_column(default=False)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class RetentionConfig(Base):
    """The rules' thresholds and the risk bands, as HR set them (one row)."""

    __tablename__ = "retention_config"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
