from __future__ import annotations

from pydantic import BaseModel


class ClientCredentialsToken(BaseModel):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    scope: str
