from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field


class BoardLine(BaseModel):
    indicator: str
    name_zh: str
    name_en: str
    unit: str
    direction: str
    weight: float = Field(description="Percent of the weighted total")
    target: float
    value: float | None = Field(description="This period so far; null: no value yet (see note)")
    completion: float | None = Field(description="The curve's ratio (1.0 = on target)")
    score: float = Field(description="After cap, floor and bands")
    contribution: float = Field(description="weight x score: the points it adds to the total")
    gap: float | None = Field(description="Still to go to the target, in the unit")
    note: str | None = None


class PlanBrief(BaseModel):
    plan_id: str
    name_zh: str
    name_en: str
    version: int


class TeamRule(BaseModel):
    unit: str
    indicator: str
    target: float
    value: float
    completion: float
    threshold: float
    bonus_points: float
    earned: bool


class BoardRead(BaseModel):
    employee_id: str
    name: str
    period: str
    plan: PlanBrief | None
    total: float = Field(description="Weighted score incl. team bonus (1.0 = 100 %)")
    bonus: float = Field(description="Team bonus included in the total (0.10 = 10 points)")
    lines: list[BoardLine]
    highlights: dict[str, float | None] = Field(
        description="Share collected, repurchase rate, revenue, collected revenue this period"
    )
    team: list[TeamRule]
    pace: float = Field(description="Share of the period gone by (pro-rata pace)")
    locked: bool = Field(description="The period is closed: this is its snapshot")
    calculated_at: dt.datetime | None


class TrendPoint(BaseModel):
    period: str
    score: float
    locked: bool
    calculated_at: dt.datetime


class MemberScore(BaseModel):
    employee_id: str
    name: str
    org_unit_id: str
    job_role: str
    plan_id: str | None
    score: float | None
    weakest: list[str] = Field(description="Indicators costing the most points, worst first")


class TeamBoardRead(BaseModel):
    unit_id: str
    period: str
    members: int
    scored: int
    average: float | None
    top: list[MemberScore]
    people: list[MemberScore]
    team: list[TeamRule]
    behind_pace: int = Field(description="Members whose pace indicator is behind pace")
