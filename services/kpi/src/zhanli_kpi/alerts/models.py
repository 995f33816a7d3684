"""Alerts raised, one per person, kind and day at most (a fact stream never floods)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, String
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_kpi.db import Base
from zhanli_shared.db import TZDateTime


class Alert(Base):
    __tablename__ = "kpi_alerts"

    employee_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)  # pace | training
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    period: Mapped[str] = mapped_column(String(7))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    raised_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
