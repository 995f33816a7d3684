"""Learning facts other services act on: skill improvement (flexible probation targets),
paths, training progress, reminders, mentor ratings and tasks (retention, KPI, webhooks)."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from zhanli_shared.events.contracts.base import DecimalStr, EventContract


class SkillImprovementMeasured(EventContract):
    event_type = "zhanli.learning.skill_improvement_measured"
    version = 1
    key_field = "employee_id"
    description = "Week-over-week improvement of a person's skill assessment (0.10 = 10 %)."

    employee_id: str
    week: str = Field(pattern=r"^\d{4}-W\d{2}$", description="ISO week, e.g. 2026-W47")
    improvement: DecimalStr = Field(ge=-100, le=100)
    measured_at: dt.datetime


class PathGenerated(EventContract):
    event_type = "zhanli.learning.path_generated"
    version = 1
    key_field = "employee_id"
    description = "A new hire's personalised learning path was generated or regenerated."

    employee_id: str
    path_id: str
    job_family: str
    courses: int = Field(ge=0)
    total_hours: DecimalStr = Field(ge=0)
    weekly_hours: DecimalStr = Field(ge=0)
    starts_on: dt.date
    probation_ends_on: dt.date
    fits_in_probation: bool
    source: str = Field(description="hire | directory | regenerate | hr")
    generated_at: dt.datetime


class TrainingProgressed(EventContract):
    event_type = "zhanli.learning.training_progressed"
    version = 1
    key_field = "employee_id"
    description = (
        "A course of a person's path was started, completed or changed; the path's "
        "completion rate (0-1) and overdue count after it."
    )

    employee_id: str
    path_id: str
    course_id: str
    status: str = Field(description="planned | started | completed | removed")
    quiz_score: int | None = Field(default=None, ge=0, le=100)
    completion_rate: DecimalStr = Field(ge=0, le=1)
    completed_courses: int = Field(ge=0)
    total_courses: int = Field(ge=0)
    overdue_count: int = Field(ge=0)
    occurred_at: dt.datetime


class LearningReminder(EventContract):
    event_type = "zhanli.learning.reminder"
    version = 1
    key_field = "recipient_id"
    description = (
        "A reminder or an escalation to carry to WeCom/DingTalk: an overdue course (the "
        "learner, then the manager), an overdue mentor task (the mentor, then their "
        "manager), a course added by a recommendation (the learner), a mentor to replace "
        "(HR). Bilingual text included."
    )

    recipient_id: str = Field(description="Employee id, or 'hr' for the HR team")
    about_employee_id: str
    kind: str = Field(
        description="course_overdue | mentor_task_overdue | course_recommended | "
        "mentor_flagged | mentor_assigned | path_ready"
    )
    stage: str = Field(description="notice | remind | escalate")
    subject_id: str = Field(description="The path item, task, mentor or path concerned")
    due_on: dt.date | None = None
    text_zh: str
    text_en: str
    occurred_at: dt.datetime


class MentorRated(EventContract):
    event_type = "zhanli.learning.mentor_rated"
    version = 1
    key_field = "mentor_id"
    description = (
        "A mentee rated their mentor (1-10) for a week; the mentor's average over the "
        "latest rating of each mentee and whether it fell below the threshold."
    )

    mentor_id: str
    mentee_id: str
    week: str = Field(pattern=r"^\d{4}-W\d{2}$")
    rating: int = Field(ge=1, le=10)
    average: DecimalStr = Field(ge=1, le=10)
    flagged: bool
    rated_at: dt.datetime


class MentorTaskCompleted(EventContract):
    event_type = "zhanli.learning.mentor_task_completed"
    version = 1
    key_field = "mentor_id"
    description = (
        "A mentor submitted a weekly task for a mentee; the share of that week's three "
        "tasks done (0-1)."
    )

    mentor_id: str
    mentee_id: str
    task_id: str
    week: str = Field(pattern=r"^\d{4}-W\d{2}$")
    kind: str = Field(description="client_visit | review_coaching | performance_talk")
    task_completion_rate: DecimalStr = Field(ge=0, le=1)
    on_time: bool
    occurred_at: dt.datetime
