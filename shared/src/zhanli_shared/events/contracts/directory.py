"""Directory events: the org tree and the people in it, projected by every service."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import Field

from zhanli_shared.events.contracts.base import EventContract


class OrgUnitKind(StrEnum):
    GROUP = "group"
    BRANCH = "branch"
    DEPARTMENT = "department"
    TEAM = "team"


class EmploymentStatus(StrEnum):
    PROBATION = "probation"
    ACTIVE = "active"
    LEFT = "left"


class OrgUnitUpserted(EventContract):
    event_type = "zhanli.directory.org_unit_upserted"
    version = 1
    key_field = "org_unit_id"
    description = "An org unit was created or changed."

    org_unit_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    kind: OrgUnitKind
    parent_id: str | None = None
    manager_id: str | None = None
    path: list[str] = Field(description="Ids from the root down to and including this unit")


class EmployeeUpserted(EventContract):
    event_type = "zhanli.directory.employee_upserted"
    version = 1
    key_field = "employee_id"
    description = "A person was created or changed in the directory."

    employee_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    org_unit_id: str
    org_path: list[str] = Field(description="Org unit ids from the root down to the person's unit")
    manager_id: str | None = None
    job_role: str = Field(description="e.g. salesperson, sales_manager, customer_service")
    roles: list[str] = Field(default_factory=list)
    status: EmploymentStatus = EmploymentStatus.ACTIVE
    hired_on: dt.date | None = None


class SeparationReason(StrEnum):
    RESIGNATION = "resignation"
    DISMISSAL = "dismissal"
    FAILED_PROBATION = "failed_probation"
    OTHER = "other"


class EmployeeSeparated(EventContract):
    event_type = "zhanli.directory.employee_separated"
    version = 1
    key_field = "employee_id"
    description = (
        "A person left the company (recorded by HR or the HRIS import): retention's label "
        "and the talent service's hiring outcome."
    )

    employee_id: str = Field(min_length=1, max_length=64)
    separated_on: dt.date
    reason: SeparationReason
    reason_detail: str | None = Field(default=None, max_length=500)
    hired_on: dt.date | None = None
    job_role: str | None = None
    org_path: list[str] = Field(default_factory=list)
    recorded_at: dt.datetime
