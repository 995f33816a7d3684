from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from zhanli_shared.auth import Role


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=2, max_length=100, pattern=r"^[A-Za-z0-9._@\-]+$")
    password: str = Field(min_length=8, max_length=200)
    employee_id: str | None = Field(default=None, max_length=64)
    roles: list[Role] = Field(min_length=1)


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    username: str
    employee_id: str | None
    roles: list[str]
    active: bool
