from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from zhanli_shared.ml.tabular import ColumnMapping


class HistoryImportCreate(BaseModel):
    """A past-employee export from any HRIS, base64-encoded (CSV UTF-8/GBK or XLSX), and how
    to read it: which columns are numeric or categorical features, which is the label (text
    such as Yes/No or 是/否 mapped by ``positive_values``/``negative_values``) or the hire and
    exit dates (label: left within ``horizon_days``), which are protected (fairness report
    only)."""

    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=300)
    content_base64: str = Field(min_length=1)
    mapping: ColumnMapping
    sheet: str | None = Field(default=None, max_length=100)
    activate: bool = Field(default=True, description="Activate when it passes the policy")


class HistoryImportRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    filename: str
    created_by: str
    created_at: dt.datetime
    status: str
    mapping: dict[str, Any]
    report: dict[str, Any]
    model_name: str | None
    model_version: int | None
    activated: bool


class HistoryImportList(BaseModel):
    items: list[HistoryImportRead]


EARLIEST, LATEST = dt.date(1970, 1, 1), dt.date(2199, 12, 31)
# Dates outside this range are refused (date arithmetic on them would overflow).
Day = Annotated[dt.date, Field(ge=EARLIEST, le=LATEST)]


class SignalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=40)
    value: float = Field(allow_inf_nan=False)
    observed_on: Day


class TimelineIn(BaseModel):
    """A past (or current) person's hire, separation and dated signals, e.g. from the
    previous learning system: the same facts the events bring, for the hazard model."""

    model_config = ConfigDict(extra="forbid")

    employee_id: str = Field(min_length=1, max_length=64)
    hired_on: Day
    left_on: Day | None = None
    exit_reason: str | None = Field(default=None, max_length=40)
    mentor_id: str | None = Field(default=None, max_length=64)
    org_path: list[str] = Field(default_factory=list, max_length=20)
    gender: str | None = Field(default=None, max_length=20)
    age_band: str | None = Field(default=None, max_length=10)
    signals: list[SignalIn] = Field(default_factory=list, max_length=5000)


class TimelinesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    people: list[TimelineIn] = Field(min_length=1, max_length=1000)


class TimelinesResult(BaseModel):
    people: int
    signals: int
    rejected: list[dict[str, Any]]
