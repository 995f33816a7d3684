"""The CloudEvents 1.0 JSON envelope (structured mode) every Zhanli event travels in."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope; ``type`` is the topic, e.g. zhanli.sales.payment_received.v1."""

    model_config = ConfigDict(extra="allow")

    specversion: str = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str
    type: str
    time: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))
    subject: str | None = None
    datacontenttype: str = "application/json"
    dataschema: str | None = None
    data: dict[str, Any]

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", exclude_none=True))

    @classmethod
    def from_json(cls, raw: bytes | str) -> CloudEvent:
        return cls.model_validate(orjson.loads(raw))
