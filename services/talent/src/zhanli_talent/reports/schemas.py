"""Report API schemas."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class FeedbackReport(BaseModel):
    job_family: str
    profile_version: int | None
    horizon_days: int
    performing_at: float
    by_band: list[dict[str, Any]]
    by_pool: list[dict[str, Any]]
    suggestions: list[str]


class FairnessReport(BaseModel):
    job_family: str | None
    requisition_id: str | None
    decisions: dict[str, Any] = Field(
        description="Selection (advanced past screening) by people, by gender and age band"
    )
    recommendations: dict[str, Any] = Field(
        description="Selection by the score (not in the elimination pool), the same groups"
    )
    reviewed_by_people: int = Field(description="Pool decisions taken by a person")
    note: str = (
        "Protected attributes are never model features; every pool decision is a person's. "
        "A four-fifths flag is a reason to review the decisions, not proof."
    )
