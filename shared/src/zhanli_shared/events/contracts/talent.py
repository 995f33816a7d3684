"""Recruiting events: hires (the directory creates the person in probation from them;
learning, KPI and retention react) and pipeline reminders (the gateway's webhooks carry
them to WeCom / DingTalk)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import Field

from zhanli_shared.events.contracts.base import DecimalStr, EventContract


class MatchPool(StrEnum):
    ELIMINATION = "elimination"
    REVIEW = "review"
    FOCUS = "focus"


class CandidateHired(EventContract):
    event_type = "zhanli.talent.candidate_hired"
    version = 1
    key_field = "employee_id"
    description = (
        "A candidate was hired: the directory creates the person in probation; the match "
        "score, pool and profile version travel with it (no contact data)."
    )

    employee_id: str = Field(min_length=1, max_length=64)
    candidate_id: str
    application_id: str
    requisition_id: str
    name: str = Field(min_length=1, max_length=200)
    org_unit_id: str = Field(min_length=1, max_length=64)
    manager_id: str | None = None
    job_role: str = Field(min_length=1, max_length=64)
    job_family: str
    hired_on: dt.date
    match_score: DecimalStr | None = Field(default=None, ge=0, le=100)
    pool: MatchPool | None = None
    profile_version: int | None = None
    hired_at: dt.datetime


class ReminderKind(StrEnum):
    OFFER_UNCONFIRMED = "offer_unconfirmed"
    FEEDBACK_OVERDUE = "interview_feedback_overdue"
    NO_NEXT_STEP = "no_next_step"


class PipelineReminderDue(EventContract):
    event_type = "zhanli.talent.pipeline_reminder_due"
    version = 1
    key_field = "application_id"
    description = (
        "A candidate needs someone's action (offer to confirm, interview feedback overdue, "
        "no next step): sent once per cause."
    )

    reminder_id: str
    kind: ReminderKind
    application_id: str
    requisition_id: str
    candidate_id: str
    recipient_ids: list[str] = Field(description="Employee ids to notify (recruiter, managers)")
    due_since: dt.datetime
    message: str = Field(max_length=500)
