from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict


class ScoreRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    employee_id: str
    basis: str
    basis_reason: str
    model_name: str | None
    model_version: int | None
    risk_30: float | None
    risk_60: float | None
    risk_90: float | None
    band: str
    previous_band: str | None
    rules_band: str
    rules_fired: list[str]
    factors: list[dict[str, Any]]
    interventions: list[dict[str, Any]]
    scored_at: dt.datetime
    alerted_at: dt.datetime | None


class ScoreList(BaseModel):
    items: list[ScoreRead]


class RefreshResult(BaseModel):
    scored: int
    alerts: int
    basis: str


class Explanation(BaseModel):
    """What the person concerned is told (PIPL Art. 24): which signals raised the estimate,
    what it is used for, and that it never decides anything on its own."""

    employee_id: str
    basis: str
    risk_90: float | None
    band: str
    factors: list[dict[str, Any]]
    rules_fired: list[str]
    features: dict[str, Any]
    suggested_support: list[dict[str, Any]]
    purpose_en: str
    purpose_zh: str
    rights_en: str
    rights_zh: str
