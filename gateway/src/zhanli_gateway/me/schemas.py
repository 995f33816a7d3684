"""/me API models: the request body checked at the door, and the documented answers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

PositiveMoney = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=2)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["CNY"])]


class WhatIfBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: PositiveMoney = Field(examples=["20000.00"])
    currency: Currency | None = None
    paid_at: AwareDatetime | None = None


class OrgUnitBrief(BaseModel):
    org_unit_id: str
    name: str | None
    kind: str | None
    path: list[str]


class Profile(BaseModel):
    employee_id: str
    name: str
    job_role: str
    status: str
    hired_on: dt.date | None
    manager_id: str | None
    org_unit: OrgUnitBrief
    roles: list[str] = Field(description="The person's roles in the directory")
    token_roles: list[str] = Field(description="The roles this sign-in carries")
    manages: list[str] = Field(description="Org units in this sign-in's data scope")


class CommissionPage(BaseModel):
    employee_id: str
    period: str
    currency: str
    total: Decimal = Field(description="The period's total, whatever the page")
    basis_total: Decimal
    line_count: int
    lines: list[dict[str, Any]]
    limit: int
    next_cursor: str | None


class Notification(BaseModel):
    id: str
    type: str
    at: dt.datetime
    title: str
    message: str
    data: dict[str, Any]


class NotificationPage(BaseModel):
    items: list[Notification]
    periods: list[str]
    limit: int
    next_cursor: str | None
