"""Webhook API: HR admins, IT operations and integrations manage subscriptions; the
signing secret is shown once (on creation and on rotation)."""

from __future__ import annotations

from typing import Annotated, Literal, cast

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from zhanli_audit.settings import AuditSettings
from zhanli_audit.webhooks import repository, service
from zhanli_audit.webhooks.schemas import (
    DeliveryPage,
    DeliveryRead,
    SubscriptionCreate,
    SubscriptionRead,
    SubscriptionUpdate,
    SubscriptionWithSecret,
)
from zhanli_shared.audit import client_ip
from zhanli_shared.auth import CurrentPrincipal, Role, require_roles
from zhanli_shared.runtime import CipherDep, PublisherDep, RuntimeDep, SessionDep

MANAGERS = (Role.HR_ADMIN, Role.IT_OPS, Role.INTEGRATION)

router = APIRouter(
    prefix="/api/v1/webhooks",
    tags=["webhooks"],
    dependencies=[Depends(require_roles(*MANAGERS))],
)


def _settings(runtime: RuntimeDep) -> AuditSettings:
    return cast(AuditSettings, runtime.settings)


SettingsDep = Annotated[AuditSettings, Depends(_settings)]


@router.get("/event-types", response_model=list[str])
async def event_types(settings: SettingsDep) -> list[str]:
    """The topics a subscription may name (patterns such as ``zhanli.sales.*`` work too)."""
    return service.offered_topics(settings)


@router.post("/subscriptions", response_model=SubscriptionWithSecret, status_code=201)
async def create_subscription(
    body: SubscriptionCreate,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    cipher: CipherDep,
    settings: SettingsDep,
) -> SubscriptionWithSecret:
    sub, secret = await service.create(
        session, publisher, cipher, settings, body, actor=principal, source_ip=client_ip(request)
    )
    return SubscriptionWithSecret(
        **SubscriptionRead.model_validate(sub).model_dump(), secret=secret
    )


@router.get("/subscriptions", response_model=list[SubscriptionRead])
async def list_subscriptions(session: SessionDep) -> list[SubscriptionRead]:
    return [SubscriptionRead.model_validate(s) for s in await repository.list_live(session)]


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionRead)
async def get_subscription(subscription_id: str, session: SessionDep) -> SubscriptionRead:
    return SubscriptionRead.model_validate(await service.get(session, subscription_id))


@router.patch("/subscriptions/{subscription_id}", response_model=SubscriptionRead)
async def update_subscription(
    subscription_id: str,
    body: SubscriptionUpdate,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    settings: SettingsDep,
) -> SubscriptionRead:
    sub = await service.update(
        session,
        publisher,
        settings,
        subscription_id,
        body,
        actor=principal,
        source_ip=client_ip(request),
    )
    return SubscriptionRead.model_validate(sub)


@router.delete("/subscriptions/{subscription_id}", status_code=204)
async def delete_subscription(
    subscription_id: str,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
) -> Response:
    await service.delete(
        session, publisher, subscription_id, actor=principal, source_ip=client_ip(request)
    )
    return Response(status_code=204)


@router.post(
    "/subscriptions/{subscription_id}/rotate-secret", response_model=SubscriptionWithSecret
)
async def rotate_secret(
    subscription_id: str,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    cipher: CipherDep,
    settings: SettingsDep,
) -> SubscriptionWithSecret:
    sub, secret = await service.rotate_secret(
        session,
        publisher,
        cipher,
        settings,
        subscription_id,
        actor=principal,
        source_ip=client_ip(request),
    )
    return SubscriptionWithSecret(
        **SubscriptionRead.model_validate(sub).model_dump(), secret=secret
    )


@router.get("/subscriptions/{subscription_id}/deliveries", response_model=DeliveryPage)
async def list_deliveries(
    subscription_id: str,
    session: SessionDep,
    state: Literal["pending", "delivered", "failed", "cancelled"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[
        int | None, Query(ge=1, le=2**62, description="next_cursor of the previous page")
    ] = None,
) -> DeliveryPage:
    """The delivery log, newest first."""
    await service.get(session, subscription_id)
    rows = await repository.deliveries(
        session, subscription_id, state=state, before_id=cursor, limit=limit
    )
    items = [DeliveryRead.model_validate(r) for r in rows]
    return DeliveryPage(items=items, next_cursor=items[-1].id if len(items) == limit else None)


@router.post("/deliveries/{delivery_id}/retry", response_model=DeliveryRead)
async def retry_delivery(
    delivery_id: Annotated[int, Path(ge=1, le=2**62)], session: SessionDep
) -> DeliveryRead:
    """Queue a failed (or delivered) delivery again for a new round of attempts."""
    return DeliveryRead.model_validate(await service.requeue(session, delivery_id))
