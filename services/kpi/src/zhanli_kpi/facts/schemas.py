from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

MAX_BULK = 1000


class FactIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        default="api",
        min_length=1,
        max_length=40,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="The system of record: crm, erp, finance, orders, tickets...",
    )
    source_id: str = Field(
        min_length=1, max_length=128, description="The fact's id in its source (idempotency key)"
    )
    employee_id: str = Field(min_length=1, max_length=64)
    indicator: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    value: float = Field(allow_inf_nan=False, ge=-1e15, le=1e15)
    occurred_at: AwareDatetime
    note: str | None = Field(default=None, max_length=500)

    @field_validator("occurred_at")
    @classmethod
    def _plausible(cls, value: dt.datetime) -> dt.datetime:
        if not 1970 <= value.year <= 2200:
            raise ValueError("occurred_at must be between 1970 and 2200")
        return value


class BulkFacts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[FactIn] = Field(min_length=1, max_length=MAX_BULK)


class ItemError(BaseModel):
    field: str
    message: str


class FactResult(BaseModel):
    index: int
    source: str
    source_id: str
    status: Literal["created", "duplicate", "rejected"]
    fact_id: str | None = None
    period: str | None = None
    adjustment_of: str | None = Field(
        default=None, description="The closed period the fact belonged to (counted in `period`)"
    )
    errors: list[ItemError] = Field(default_factory=list)


class BulkResult(BaseModel):
    created: int
    duplicates: int
    rejected: int
    results: list[FactResult]


class FactRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    fact_id: str
    source: str
    source_id: str
    employee_id: str
    indicator: str
    period: str
    original_period: str | None
    value: float
    occurred_at: dt.datetime
    received_at: dt.datetime
    note: str | None


class ImportRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    import_id: str
    status: str
    media_type: str
    dry_run: bool
    rows_read: int
    rows_applied: int
    rows_duplicate: int
    rows_failed: int
    errors: list[dict[str, object]]
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None
