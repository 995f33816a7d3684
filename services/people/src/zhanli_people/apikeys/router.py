"""API keys of machine identities (hr_admin, it_ops), and the gateway's internal look-up.

The gateway exchanges a key for a short-lived JWT of its own issuer: it asks this service
for the key's state (``GET /internal/v1/api-keys/{key_id}``, with its own service token)
and caches the answer for ``api_key_cache_ttl_s``. That path is never routed by the
gateway, so only callers inside the cluster reach it, and only the gateway's subject is
answered.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from zhanli_people.apikeys import repository, service
from zhanli_people.apikeys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead, ApiKeyState
from zhanli_people.directory import repository as directory_repository
from zhanli_people.settings import people_settings
from zhanli_shared.audit import client_ip
from zhanli_shared.auth import CurrentPrincipal, Principal, Role, require_roles
from zhanli_shared.db import utcnow
from zhanli_shared.errors import Forbidden, NotFound
from zhanli_shared.events.contracts.directory import EmploymentStatus
from zhanli_shared.runtime import PublisherDep, RuntimeDep, SessionDep

router = APIRouter(tags=["identity"])
Manager = Annotated[Principal, Depends(require_roles(Role.HR_ADMIN, Role.IT_OPS))]


@router.post(
    "/api/v1/auth/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
)
async def create_api_key(
    body: ApiKeyCreate,
    request: Request,
    session: SessionDep,
    publisher: PublisherDep,
    principal: Manager,
) -> ApiKeyCreated:
    """A key for an enterprise system. **The key is in this answer only**: store it in the
    system's secret store; only its hash is kept."""
    key, shown = await service.create(
        session, publisher, body, actor=principal, source_ip=client_ip(request)
    )
    return ApiKeyCreated(**ApiKeyRead.model_validate(key).model_dump(), api_key=shown)


@router.get("/api/v1/auth/api-keys", response_model=list[ApiKeyRead])
async def list_api_keys(
    session: SessionDep, principal: Manager, include_revoked: bool = False
) -> list[ApiKeyRead]:
    """Every key (never a secret); revoked ones with ``include_revoked=true``."""
    keys = await repository.list_keys(session, include_revoked=include_revoked)
    return [ApiKeyRead.model_validate(k) for k in keys]


@router.get("/api/v1/auth/api-keys/{key_id}", response_model=ApiKeyRead)
async def get_api_key(key_id: str, session: SessionDep, principal: Manager) -> ApiKeyRead:
    key = await repository.get(session, key_id)
    if key is None:
        raise NotFound(f"Unknown API key {key_id!r}.", field="key_id")
    return ApiKeyRead.model_validate(key)


@router.delete("/api/v1/auth/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_api_key(
    key_id: str,
    request: Request,
    session: SessionDep,
    publisher: PublisherDep,
    principal: Manager,
) -> Response:
    """Revoke a key: at once on the gateway process that relayed this request, within the
    gateway's ``api_key_cache_ttl_s`` on the others; tokens already issued for it are
    refused by the gateway from then on."""
    await service.revoke(session, publisher, key_id, actor=principal, source_ip=client_ip(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/internal/v1/api-keys/{key_id}", response_model=ApiKeyState, include_in_schema=False)
async def key_state(
    key_id: str, principal: CurrentPrincipal, session: SessionDep, runtime: RuntimeDep
) -> ApiKeyState:
    """The state of a key for the gateway's cache (its hash included: the gateway checks
    the secret itself). Each look-up is a use of the key: ``last_used_at`` moves at most
    once a minute."""
    gateway = people_settings(runtime).gateway_subject
    if principal.kind != "service" or principal.subject != gateway:
        raise Forbidden("Only the gateway looks up API keys.")
    key = await repository.get(session, key_id)
    if key is None:
        return ApiKeyState(key_id=key_id, known=False)
    await service.touch(session, key, utcnow())
    owner = await directory_repository.get_employee(session, key.owner)
    owner_left = owner is not None and owner.status == EmploymentStatus.LEFT
    return ApiKeyState(
        key_id=key.key_id,
        known=True,
        secret_hash=key.secret_hash,
        name=key.name,
        roles=sorted(key.roles),
        expires_at=key.expires_at,
        revoked=key.revoked_at is not None or owner_left,  # a departed owner's keys stop
        owner=key.owner,
    )
