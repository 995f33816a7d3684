from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from zhanli_shared.auth import Role


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="e.g. 'CRM (Salesforce) sync'")
    owner: str | None = Field(
        default=None, max_length=100, description="who answers for it; default: the creator"
    )
    roles: list[Role] = Field(min_length=1, description="usually just 'integration'")
    expires_at: dt.datetime | None = Field(default=None, description="none: never expires")


class ApiKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    key_id: str
    name: str
    owner: str
    roles: list[str]
    created_by: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    revoked_by: str | None
    last_used_at: dt.datetime | None


class ApiKeyCreated(ApiKeyRead):
    api_key: str = Field(description="shown once: send it as 'X-API-Key' (store it safely)")


class ApiKeyState(BaseModel):
    """What the gateway caches of a key (internal: never routed to the public)."""

    key_id: str
    known: bool
    secret_hash: str | None = None
    name: str = ""
    roles: list[str] = Field(default_factory=list)
    expires_at: dt.datetime | None = None
    revoked: bool = False
    owner: str | None = None
