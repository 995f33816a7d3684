from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RatingWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rated_id: str = Field(min_length=1, max_length=64)
    indicator: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$", examples=["peer_teamwork"])
    period: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    score: float = Field(allow_inf_nan=False, ge=-1e6, le=1e6)
    comment: str | None = Field(default=None, max_length=500)


class RatingAccepted(BaseModel):
    rating_id: str
    rated_id: str
    indicator: str
    period: str


class RatingSummary(BaseModel):
    """What the rated person sees: never who rated."""

    indicator: str
    period: str
    count: int
    average: float
    comments: list[str]
