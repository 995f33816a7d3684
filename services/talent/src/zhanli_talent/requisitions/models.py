"""Requisitions, applications (a candidate in a requisition's pipeline, with the match
score and its explanation), interviews, reminders sent, re-scoring jobs and outcomes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Date, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_shared.db import TZDateTime
from zhanli_talent.db import Base


class Requisition(Base):
    __tablename__ = "requisitions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    job_family: Mapped[str] = mapped_column(String(64), index=True)
    job_role: Mapped[str] = mapped_column(String(64))
    org_unit_id: Mapped[str] = mapped_column(String(64))
    hiring_manager_ids: Mapped[list[str]] = mapped_column(JSON)
    recruiter_id: Mapped[str | None] = mapped_column(String(64))
    headcount: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20))  # open | closed
    opened_on: Mapped[dt.date] = mapped_column(Date)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class Application(Base):
    __tablename__ = "applications"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    requisition_id: Mapped[str] = mapped_column(String(36))
    candidate_id: Mapped[str] = mapped_column(String(36), index=True)
    stage: Mapped[str] = mapped_column(String(20))
    stage_changed_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    score: Mapped[float | None] = mapped_column(Float)
    rule_score: Mapped[float | None] = mapped_column(Float)
    learned_probability: Mapped[float | None] = mapped_column(Float)
    pool: Mapped[str | None] = mapped_column(String(20))
    profile_version: Mapped[int | None] = mapped_column(Integer)
    explanation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    scored_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
    pool_decision: Mapped[str | None] = mapped_column(String(20))  # advance | reject (person)
    next_step: Mapped[str | None] = mapped_column(String(200))
    next_step_due: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
    offer_sent_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
    employee_id: Mapped[str | None] = mapped_column(String(64), index=True)
    hired_on: Mapped[dt.date | None] = mapped_column(Date)
    separated_on: Mapped[dt.date | None] = mapped_column(Date)
    separation_reason: Mapped[str | None] = mapped_column(String(30))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())

    __table_args__ = (
        UniqueConstraint("requisition_id", "candidate_id", name="uq_applications_req_candidate"),
        Index("ix_applications_req_stage", "requisition_id", "stage"),
        Index("ix_applications_req_score", "requisition_id", "score"),
    )


class Interview(Base):
    __tablename__ = "interviews"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    application_id: Mapped[str] = mapped_column(String(36), index=True)
    interviewer_id: Mapped[str] = mapped_column(String(64))
    scheduled_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    ratings: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    recommendation: Mapped[str | None] = mapped_column(String(20))
    notes: Mapped[str | None] = mapped_column(Text)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class ReminderSent(Base):
    """One reminder published (kind + what it is about): never sent twice."""

    __tablename__ = "reminders_sent"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(80))
    application_id: Mapped[str] = mapped_column(String(36), index=True)
    sent_at: Mapped[dt.datetime] = mapped_column(TZDateTime())

    __table_args__ = (
        UniqueConstraint("kind", "subject_id", name="uq_reminders_sent_kind_subject"),
    )


class RescoreJob(Base):
    """Re-scoring every open application of a job family after its profile changed."""

    __tablename__ = "rescore_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    job_family: Mapped[str] = mapped_column(String(64))
    profile_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))  # running | succeeded | failed
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    changed_pool: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
