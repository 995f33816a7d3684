"""Directory API schemas. Unknown fields are refused."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from zhanli_shared.auth import Role
from zhanli_shared.events.contracts.directory import (
    EmploymentStatus,
    OrgUnitKind,
    SeparationReason,
)

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")]


class OrgUnitWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org_unit_id: Identifier
    name: str = Field(min_length=1, max_length=200, examples=["华东大区"])
    kind: OrgUnitKind
    parent_id: Identifier | None = None
    manager_id: Identifier | None = None


class OrgUnitRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    org_unit_id: str
    name: str
    kind: str
    parent_id: str | None
    manager_id: str | None
    path: list[str]


class EmployeeWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    employee_id: Identifier
    name: str = Field(min_length=1, max_length=200, examples=["王小明"])
    org_unit_id: Identifier
    manager_id: Identifier | None = None
    job_role: str = Field(min_length=1, max_length=64, examples=["salesperson"])
    roles: list[Role] = Field(default_factory=list)
    status: EmploymentStatus = EmploymentStatus.ACTIVE
    hired_on: dt.date | None = None
    phone: str | None = Field(
        default=None, pattern=r"^\+?[0-9][0-9 \-]{5,19}$", examples=["13812345678"]
    )
    id_number: str | None = Field(
        default=None,
        pattern=r"^[0-9]{17}[0-9Xx]$",
        description="Resident ID number (18 characters)",
    )


class EmployeeRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    employee_id: str
    name: str
    org_unit_id: str
    manager_id: str | None
    job_role: str
    roles: list[str]
    status: str
    hired_on: dt.date | None
    phone: str | None = Field(default=None, description="Masked unless HR or the person")
    id_number: str | None = Field(default=None, description="Masked unless HR or the person")
    separated_on: dt.date | None = None
    separation_reason: str | None = None
    separation_detail: str | None = None


class SeparationWrite(BaseModel):
    """The person left: the date, the reason and HR's words. Sets the status to ``left``
    and publishes ``zhanli.directory.employee_separated.v1``."""

    model_config = ConfigDict(extra="forbid")

    separated_on: dt.date
    reason: SeparationReason
    reason_detail: str | None = Field(default=None, max_length=500, examples=["能力不匹配"])


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class OrgUnitMove(BaseModel):
    """Move a unit (with everything below it) under another parent; ``null``: to the top."""

    model_config = ConfigDict(extra="forbid")

    parent_id: Identifier | None = Field(examples=["B2"])


class ImportRowError(BaseModel):
    row: int = Field(description="Spreadsheet row number (the header is row 1; 0: the file)")
    field: str = Field(description="The column (canonical name), or 'file', 'encoding', 'row'")
    message: str


class ImportChange(BaseModel):
    row: int
    entity: Literal["org_unit", "employee"]
    id: str
    action: Literal["created", "updated", "moved"]
    fields: list[str] = Field(description="Changed fields ('*': all, a new record)")


class ImportJobRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    status: Literal["running", "succeeded", "completed_with_errors", "failed"]
    dry_run: bool
    media_type: str
    created_by: str
    rows_read: int
    rows_applied: int = Field(description="Rows that changed something (or would, dry run)")
    rows_unchanged: int
    rows_failed: int
    counts: dict[str, int]
    errors: list[ImportRowError]
    errors_truncated: bool
    changes: list[ImportChange]
    changes_truncated: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None
