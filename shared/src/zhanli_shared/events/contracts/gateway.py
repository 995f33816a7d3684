"""What the gateway itself sees and must be audited: sign-in attempts and refused
requests (403), here and from the services behind it.

The gateway owns no database, so it publishes these straight to the broker (a bounded
in-memory buffer, see ``zhanli_gateway.audit``); the audit service chains them.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field

from zhanli_shared.events.contracts.base import EventContract


class RequestAudited(EventContract):
    event_type = "zhanli.gateway.request_audited"
    version = 1
    key_field = "actor_id"
    description = (
        "A request through the gateway that the audit log must show: a sign-in attempt "
        "(succeeded or failed) or a refusal (403). Never carries a password or a token."
    )

    audit_id: str = Field(min_length=1, max_length=64, description="Unique id of the fact")
    occurred_at: dt.datetime
    outcome: Literal["login_succeeded", "login_failed", "denied"]
    actor_id: str = Field(
        max_length=200,
        description="The username tried (sign-in), the token's subject, or 'anonymous'",
    )
    actor_kind: str = Field(max_length=32, description="user, service or anonymous")
    roles: list[str] = Field(default_factory=list, description="The verified token's roles")
    method: str = Field(max_length=16)
    path: str = Field(max_length=2000)
    status: int = Field(ge=100, le=599)
    request_id: str | None = Field(default=None, max_length=128)
    source_ip: str | None = Field(default=None, max_length=64)
