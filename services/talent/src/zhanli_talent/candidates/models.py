"""Candidates: contact data encrypted (blind-indexed for duplicates), the current resume as
text and tokens, assessment results; duplicate pairs waiting for a person's decision."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_shared.db import TZDateTime
from zhanli_talent.db import Base


class Candidate(Base):
    __tablename__ = "candidates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Personal data, envelope-encrypted (zhanli_shared.crypto); never in events or logs.
    phone_enc: Mapped[str | None] = mapped_column(Text)
    email_enc: Mapped[str | None] = mapped_column(Text)
    phone_index: Mapped[str | None] = mapped_column(String(64), index=True)
    email_index: Mapped[str | None] = mapped_column(String(64), index=True)
    # Protected attributes: for the fairness report only, never a model feature.
    gender: Mapped[str | None] = mapped_column(String(20))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str | None] = mapped_column(String(100))
    resume_filename: Mapped[str | None] = mapped_column(String(255))
    resume_kind: Mapped[str | None] = mapped_column(String(10))
    resume_encoding: Mapped[str | None] = mapped_column(String(20))
    resume_text: Mapped[str | None] = mapped_column(Text)
    token_counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    doc_length: Mapped[int] = mapped_column(Integer, default=0)
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    merged_into: Mapped[str | None] = mapped_column(String(36), index=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class Assessment(Base):
    """One result: a situational sales simulation, a stress-resilience test ..."""

    __tablename__ = "assessments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    score: Mapped[float] = mapped_column(Float)
    max_score: Mapped[float] = mapped_column(Float)
    taken_on: Mapped[dt.date] = mapped_column(Date)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class DuplicatePair(Base):
    """Two candidates sharing a phone or an email: shown to a person, merged or dismissed
    by them, never silently."""

    __tablename__ = "candidate_duplicates"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(String(36), index=True)
    other_id: Mapped[str] = mapped_column(String(36), index=True)
    matched_on: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20))  # open | merged | dismissed
    decided_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    decided_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())

    __table_args__ = (
        UniqueConstraint("candidate_id", "other_id", name="uq_candidate_duplicates_pair"),
        Index("ix_candidate_duplicates_status", "status"),
    )
