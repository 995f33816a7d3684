"""The indicator library: reusable indicator definitions, layered by role and level."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_kpi.db import Base
from zhanli_shared.db import TZDateTime


class Indicator(Base):
    __tablename__ = "kpi_indicators"

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    unit: Mapped[str] = mapped_column(String(20))
    direction: Mapped[str] = mapped_column(String(10))  # higher | lower | closer
    aggregation: Mapped[str] = mapped_column(String(10))  # sum count average latest ratio formula
    source: Mapped[str] = mapped_column(String(20))  # sales facts manual peer_rating cross_rating
    numerator: Mapped[str | None] = mapped_column(String(64))
    denominator: Mapped[str | None] = mapped_column(String(64))
    formula: Mapped[str | None] = mapped_column(String(500))
    scale_min: Mapped[float | None] = mapped_column(Float)
    scale_max: Mapped[float | None] = mapped_column(Float)
    linked: Mapped[list[Any]] = mapped_column(JSON)  # indicators that drive this one
    owner_role: Mapped[str | None] = mapped_column(String(64))  # who answers for it
    levels: Mapped[list[Any]] = mapped_column(JSON)  # roles/levels it is meant for
    description: Mapped[str | None] = mapped_column(String(1000))
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    updated_by: Mapped[str] = mapped_column(String(64))
