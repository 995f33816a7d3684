"""Webhook API schemas. Unknown fields are refused; the secret is shown once."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Format = Literal["cloudevents", "wecom", "dingtalk"]
EventTypes = list[str]


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["销售群机器人"])
    url: str = Field(min_length=1, max_length=2000)
    event_types: EventTypes = Field(
        min_length=1,
        max_length=100,
        description="topic names, or patterns such as zhanli.commission.*",
        examples=[["zhanli.directory.employee_upserted.v1"]],
    )
    format: Format = "cloudevents"
    active: bool = True


class SubscriptionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    event_types: EventTypes | None = Field(default=None, min_length=1, max_length=100)
    active: bool | None = None


class SubscriptionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    url: str
    event_types: list[str]
    format: str
    active: bool
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    previous_secret_expires_at: dt.datetime | None


class SubscriptionWithSecret(SubscriptionRead):
    secret: str = Field(description="Shown once: store it now; it signs every delivery.")


class DeliveryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    subscription_id: str
    event_id: str
    event_type: str
    state: str
    attempts: int
    manual_retries: int
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: dt.datetime | None
    next_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None
    created_at: dt.datetime


class DeliveryPage(BaseModel):
    items: list[DeliveryRead]
    next_cursor: int | None = None
