from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Code = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$", description="snake_case, e.g. response_time")
Direction = Literal["higher", "lower", "closer"]
Aggregation = Literal["sum", "count", "average", "latest", "ratio", "formula"]
Source = Literal["sales", "facts", "manual", "peer_rating", "cross_rating", "formula"]


class IndicatorWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name_zh: str = Field(min_length=1, max_length=100)
    name_en: str = Field(min_length=1, max_length=100)
    unit: str = Field(min_length=1, max_length=20, description="CNY, %, days, minutes, count...")
    direction: Direction = "higher"
    aggregation: Aggregation = Field(
        default="sum",
        description="Over the period: sum, count, average, latest value, ratio of two "
        "indicators (numerator / denominator), or a formula over other indicators",
    )
    source: Source = "facts"
    numerator: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,63}$")
    denominator: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,63}$")
    formula: str | None = Field(default=None, max_length=500, examples=["gross_profit / deals"])
    scale_min: float | None = Field(
        default=None, ge=-1e9, le=1e9, description="Ratings: lowest allowed"
    )
    scale_max: float | None = Field(
        default=None, ge=-1e9, le=1e9, description="Ratings: highest allowed"
    )
    linked: list[str] = Field(
        default_factory=list, max_length=20, description="Indicators that drive this one"
    )
    owner_role: str | None = Field(default=None, max_length=64)
    levels: list[str] = Field(default_factory=list, max_length=20)
    description: str | None = Field(default=None, max_length=1000)


class IndicatorRead(IndicatorWrite):
    model_config = ConfigDict(from_attributes=True, extra="ignore")

    code: str
    updated_at: dt.datetime
    updated_by: str
