"""Competency profiles (versioned per job family) and what they are learned from: the
KPI scores projected from ``zhanli.kpi.score_updated`` and trait observations of staff."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_shared.db import TZDateTime
from zhanli_talent.db import Base


class CompetencyProfile(Base):
    """One version of a job family's profile. Versions are never changed: an edit or a
    learning run adds the next version; one version per family is active."""

    __tablename__ = "competency_profiles"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    job_family: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    name: Mapped[str] = mapped_column(String(200))
    keywords: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    traits: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    keyword_share: Mapped[float] = mapped_column(Float)
    elimination_below: Mapped[float] = mapped_column(Float)
    focus_above: Mapped[float] = mapped_column(Float)
    avg_doc_len: Mapped[float] = mapped_column(Float)
    learned_weight: Mapped[float] = mapped_column(Float, default=0.0)
    learned_model: Mapped[str | None] = mapped_column(String(100))
    learned_from: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())

    __table_args__ = (
        UniqueConstraint("job_family", "version", name="uq_competency_profiles_family_version"),
        Index("ix_competency_profiles_family_active", "job_family", "active"),
    )


class KpiScore(Base):
    """A person's KPI score for a period, as the KPI service published it."""

    __tablename__ = "kpi_scores"

    employee_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    score: Mapped[float] = mapped_column(Float)
    calculated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class TraitObservation(Base):
    """A measured trait of a member of staff (behaviour metric or assessment result)."""

    __tablename__ = "trait_observations"

    employee_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    trait: Mapped[str] = mapped_column(String(64), primary_key=True)
    observed_on: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    value: Mapped[float] = mapped_column(Float)
    source: Mapped[str | None] = mapped_column(String(100))
    recorded_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
