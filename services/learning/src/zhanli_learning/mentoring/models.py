"""The mentor programme: mentors and capacity, assignments, weekly tasks with evidence,
ratings by mentees and reassignments."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_learning.db import Base
from zhanli_shared.db import TZDateTime


class Mentor(Base):
    __tablename__ = "learning_mentors"

    employee_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    capacity: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class MentorAssignment(Base):
    __tablename__ = "learning_mentor_assignments"

    assignment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    mentor_id: Mapped[str] = mapped_column(String(64), index=True)
    mentee_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20))  # active | ended
    started_on: Mapped[dt.date] = mapped_column(Date)
    ended_on: Mapped[dt.date | None] = mapped_column(Date)
    end_reason: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class MentorTask(Base):
    __tablename__ = "learning_mentor_tasks"
    __table_args__ = (UniqueConstraint("assignment_id", "week", "kind"),)

    task_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    assignment_id: Mapped[str] = mapped_column(
        ForeignKey("learning_mentor_assignments.assignment_id"), index=True
    )
    mentor_id: Mapped[str] = mapped_column(String(64), index=True)
    mentee_id: Mapped[str] = mapped_column(String(64), index=True)
    week: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(32))
    due_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))  # open | submitted
    text: Mapped[str | None] = mapped_column(String(4000))
    submitted_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
    reminded_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
    escalated_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())


class Evidence(Base):
    __tablename__ = "learning_evidence"

    evidence_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("learning_mentor_tasks.task_id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class MentorRating(Base):
    __tablename__ = "learning_mentor_ratings"
    __table_args__ = (UniqueConstraint("mentor_id", "mentee_id", "week"),)

    rating_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    mentor_id: Mapped[str] = mapped_column(String(64), index=True)
    mentee_id: Mapped[str] = mapped_column(String(64))
    week: Mapped[str] = mapped_column(String(8))
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class Reassignment(Base):
    """A mentor flagged below the rating threshold: HR moves each mentee to another mentor
    (open until none is left with the flagged mentor)."""

    __tablename__ = "learning_reassignments"

    reassignment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    mentor_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20))  # open | done
    average: Mapped[str] = mapped_column(String(10))
    opened_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    closed_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())
