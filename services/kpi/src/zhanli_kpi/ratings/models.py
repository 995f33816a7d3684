"""Peer and cross-department ratings: one per rater, person, indicator and period."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_kpi.db import Base
from zhanli_shared.db import TZDateTime


class Rating(Base):
    __tablename__ = "kpi_ratings"
    __table_args__ = (UniqueConstraint("rater_id", "rated_id", "indicator", "period"),)

    rating_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rater_id: Mapped[str] = mapped_column(String(64))
    rated_id: Mapped[str] = mapped_column(String(64), index=True)
    indicator: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(7))
    score: Mapped[float] = mapped_column(Float)
    comment: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
