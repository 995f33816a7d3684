"""The probation KPI score of each person and month (from KPI's score events), kept to
watch onboarding: training far along while the KPI lags alerts HR."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_learning.db import Base
from zhanli_shared.db import Rate, TZDateTime


class KpiScore(Base):
    __tablename__ = "learning_kpi_scores"

    employee_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    score: Mapped[Decimal] = mapped_column(Rate())
    alerted_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
