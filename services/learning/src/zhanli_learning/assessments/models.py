"""Assessments: one score (0-100) of one skill of one person on a date."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_learning.db import Base
from zhanli_shared.db import TZDateTime


class Assessment(Base):
    __tablename__ = "learning_assessments"
    __table_args__ = (Index("ix_learning_assessments_person", "employee_id", "assessed_on"),)

    assessment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    employee_id: Mapped[str] = mapped_column(String(64))
    skill_id: Mapped[str] = mapped_column(String(64))
    score: Mapped[int] = mapped_column(Integer)
    assessed_on: Mapped[dt.date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(20))  # initial | reassessment
    source: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
