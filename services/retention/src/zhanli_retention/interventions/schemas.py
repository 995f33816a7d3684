from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal[
    "coaching", "mentor_change", "target_adjustment", "training_plan", "check_in", "other"
]


class InterventionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind
    note: str = Field(default="", max_length=2000)
    owner_id: str | None = Field(default=None, max_length=64, description="Who carries it out")
    started_on: dt.date | None = Field(
        default=None, ge=dt.date(1970, 1, 1), le=dt.date(2199, 12, 31), description="Default: today"
    )


class OutcomeUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["pending", "stayed", "left"]
    note: str = Field(default="", max_length=2000)


class InterventionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    employee_id: str
    kind: str
    note: str
    owner_id: str | None
    started_on: dt.date
    created_by: str
    created_at: dt.datetime
    risk_at_time: float | None
    band_at_time: str | None
    basis_at_time: str | None
    model_version: int | None
    outcome: str
    outcome_note: str
    outcome_by: str | None
    outcome_at: dt.datetime | None


class InterventionList(BaseModel):
    items: list[InterventionRead]
