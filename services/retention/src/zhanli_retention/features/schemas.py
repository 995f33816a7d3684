from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ProtectedAttributes(BaseModel):
    """Kept only for the fairness report (never a feature)."""

    model_config = ConfigDict(extra="forbid")

    gender: Literal["female", "male", "other", "undisclosed"] | None = None
    age_band: Literal["18-24", "25-34", "35-44", "45+"] | None = None


class AttributesRead(BaseModel):
    employee_id: str
    protected: ProtectedAttributes
    used_for: str = Field(default="the fairness report only; never a model feature")
