"""API key use cases: create (the secret returned once), revoke, note a use. Add and flush,
never commit."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_people.apikeys import repository
from zhanli_people.apikeys.models import ApiKey
from zhanli_people.apikeys.schemas import ApiKeyCreate
from zhanli_people.identity.service import IT_OPS_GRANTABLE
from zhanli_shared import apikeys as core
from zhanli_shared import audit
from zhanli_shared.auth import Principal, Role
from zhanli_shared.db import utcnow
from zhanli_shared.errors import Forbidden, NotFound, Unprocessable
from zhanli_shared.events.outbox import Publisher

API_KEY_SUBJECT = core.API_KEY_SUBJECT
TOUCH_EVERY = dt.timedelta(seconds=60)


def is_api_key_principal(principal: Principal) -> bool:
    return principal.subject.startswith(API_KEY_SUBJECT)


def check_grant(actor: Principal, roles: set[str]) -> None:
    """Least privilege, as for local users: hr_admin grants any role, it_ops only
    it_ops/integration; a key never creates keys (a leaked key must not be able to mint
    itself successors that outlive its revocation)."""
    if is_api_key_principal(actor):
        raise Forbidden("An API key cannot create API keys: sign in as a person.")
    if not actor.has_any({Role.HR_ADMIN}) and not roles <= IT_OPS_GRANTABLE:
        raise Forbidden(
            "Only hr_admin may grant these roles: " + ", ".join(sorted(roles - IT_OPS_GRANTABLE)),
            field="roles",
        )


def _state(key: ApiKey) -> dict[str, object]:
    return {
        "name": key.name,
        "owner": key.owner,
        "roles": sorted(key.roles),
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
    }


async def create(
    session: AsyncSession,
    publisher: Publisher,
    data: ApiKeyCreate,
    *,
    actor: Principal,
    source_ip: str | None = None,
) -> tuple[ApiKey, str]:
    roles = {r.value for r in data.roles}
    check_grant(actor, roles)
    now = utcnow()
    if data.expires_at is not None:
        if data.expires_at.tzinfo is None:
            raise Unprocessable(
                "Give a time zone (e.g. 2027-01-01T00:00:00+08:00).", field="expires_at"
            )
        if data.expires_at <= now:
            raise Unprocessable("The expiry must be in the future.", field="expires_at")
    key_id, secret, shown = core.new_key()
    key = ApiKey(
        key_id=key_id,
        secret_hash=core.hash_secret(key_id, secret),
        name=data.name,
        owner=data.owner or actor.subject,
        roles=sorted(roles),
        created_by=actor.subject,
        created_at=now,
        expires_at=data.expires_at.astimezone(dt.UTC) if data.expires_at else None,
        revoked_at=None,
        revoked_by=None,
        last_used_at=None,
    )
    session.add(key)
    await session.flush()
    await audit.record(  # never the secret, nor its hash
        session,
        publisher,
        actor=actor,
        action="identity.api_key.created",
        entity_type="api_key",
        entity_id=key_id,
        before=None,
        after=_state(key),
        source_ip=source_ip,
    )
    return key, shown


async def revoke(
    session: AsyncSession,
    publisher: Publisher,
    key_id: str,
    *,
    actor: Principal,
    source_ip: str | None = None,
) -> ApiKey:
    key = await repository.get(session, key_id)
    if key is None:
        raise NotFound(f"Unknown API key {key_id!r}.", field="key_id")
    if key.revoked_at is not None:
        return key  # revoking twice changes nothing (and records nothing)
    before = _state(key)
    key.revoked_at = utcnow()
    key.revoked_by = actor.subject
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="identity.api_key.revoked",
        entity_type="api_key",
        entity_id=key_id,
        before=before,
        after=_state(key),
        source_ip=source_ip,
    )
    return key


async def touch(session: AsyncSession, key: ApiKey, at: dt.datetime) -> None:
    """Note that the key was used (at most once a minute: a look-up per cache expiry of each
    gateway process must not write a row each time)."""
    if key.last_used_at is None or at - key.last_used_at >= TOUCH_EVERY:
        key.last_used_at = at
        await session.flush()
