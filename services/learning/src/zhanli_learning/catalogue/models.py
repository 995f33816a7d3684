"""The catalogue: skills, courses (with what they build and need), job-family profiles."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_learning.db import Base
from zhanli_shared.db import TZDateTime


class Skill(Base):
    __tablename__ = "learning_skills"

    skill_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class Course(Base):
    """A course; ``skills`` maps skill id -> points it adds (0-100 scale), ``prerequisites``
    lists course ids, ``required_for`` job families that always take it. Retired courses
    stay (paths name them) but are never planned again."""

    __tablename__ = "learning_courses"

    course_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title_zh: Mapped[str] = mapped_column(String(300))
    title_en: Mapped[str] = mapped_column(String(300))
    format: Mapped[str] = mapped_column(String(20))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    skills: Mapped[dict[str, Any]] = mapped_column(JSON)
    prerequisites: Mapped[list[str]] = mapped_column(JSON)
    required_for: Mapped[list[str]] = mapped_column(JSON)
    quiz_pass_score: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class JobFamily(Base):
    """A job family's competency profile: skill id -> the level (0-100) a new hire must
    reach. The family id is the directory's ``job_role`` (salesperson, ...)."""

    __tablename__ = "learning_job_families"

    family_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    required_levels: Mapped[dict[str, Any]] = mapped_column(JSON)
    probation_days: Mapped[int] = mapped_column(Integer, default=90)
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class CatalogueImport(Base):
    __tablename__ = "learning_catalogue_imports"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_applied: Mapped[int] = mapped_column(Integer, default=0)
    rows_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rows_failed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
