"""Catalogue API models (input refuses unknown fields)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

ID = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


class SkillCategory(StrEnum):
    INDUSTRY = "industry_knowledge"
    SALES = "sales_skills"
    PRODUCT = "product_knowledge"
    PLATFORM = "platform_skills"
    PERSONAL = "personal"


class CourseFormat(StrEnum):
    ONLINE = "online"
    VIDEO = "video"
    CLASSROOM = "classroom"
    LIVE = "live"
    MENTOR_TASK = "mentor_task"
    ON_THE_JOB = "on_the_job"


class SkillWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    category: SkillCategory


class SkillRead(SkillWrite):
    model_config = ConfigDict(from_attributes=True)

    skill_id: str
    updated_at: dt.datetime


class CourseWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title_zh: str = Field(min_length=1, max_length=300)
    title_en: str = Field(min_length=1, max_length=300)
    format: CourseFormat = CourseFormat.ONLINE
    duration_minutes: int = Field(ge=1, le=100_000)
    skills: dict[str, int] = Field(
        default_factory=dict,
        description="skill id -> points the course adds to that skill (1-100)",
        max_length=20,
    )
    prerequisites: list[str] = Field(default_factory=list, max_length=50)
    required_for: list[str] = Field(
        default_factory=list, max_length=20, description="Job families that always take it"
    )
    quiz_pass_score: int | None = Field(default=None, ge=0, le=100)


class CourseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    course_id: str
    title_zh: str
    title_en: str
    format: str
    duration_minutes: int
    skills: dict[str, int]
    prerequisites: list[str]
    required_for: list[str]
    quiz_pass_score: int | None
    active: bool
    updated_at: dt.datetime


class JobFamilyWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name_zh: str = Field(min_length=1, max_length=200)
    name_en: str = Field(min_length=1, max_length=200)
    required_levels: dict[str, int] = Field(
        description="skill id -> level (1-100) a new hire must reach", max_length=50
    )
    probation_days: int = Field(default=90, ge=7, le=366)


class JobFamilyRead(JobFamilyWrite):
    model_config = ConfigDict(from_attributes=True)

    family_id: str
    updated_at: dt.datetime


class ImportRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    status: str
    rows_read: int
    rows_applied: int
    rows_unchanged: int
    rows_failed: int
    errors: list[dict[str, Any]]
    created_at: dt.datetime
