"""Every query of webhook subscriptions and deliveries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_audit.webhooks.models import WebhookDelivery, WebhookSubscription


async def get(session: AsyncSession, subscription_id: str) -> WebhookSubscription | None:
    stmt = select(WebhookSubscription).where(
        WebhookSubscription.id == subscription_id, WebhookSubscription.deleted_at.is_(None)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_live(session: AsyncSession) -> Sequence[WebhookSubscription]:
    stmt = (
        select(WebhookSubscription)
        .where(WebhookSubscription.deleted_at.is_(None))
        .order_by(WebhookSubscription.created_at, WebhookSubscription.id)
    )
    return (await session.execute(stmt)).scalars().all()


async def active_matchers(session: AsyncSession) -> list[tuple[str, list[str]]]:
    stmt = select(WebhookSubscription.id, WebhookSubscription.event_types).where(
        WebhookSubscription.active.is_(True), WebhookSubscription.deleted_at.is_(None)
    )
    return [(r[0], list(r[1])) for r in (await session.execute(stmt)).all()]


async def existing_deliveries(
    session: AsyncSession, event_id: str, subscription_ids: list[str]
) -> set[str]:
    stmt = select(WebhookDelivery.subscription_id).where(
        WebhookDelivery.event_id == event_id,
        WebhookDelivery.subscription_id.in_(subscription_ids),
    )
    return set((await session.execute(stmt)).scalars())


async def get_delivery(session: AsyncSession, delivery_id: int) -> WebhookDelivery | None:
    return await session.get(WebhookDelivery, delivery_id)


async def deliveries(
    session: AsyncSession,
    subscription_id: str,
    *,
    state: str | None,
    before_id: int | None,
    limit: int,
) -> Sequence[WebhookDelivery]:
    """One page, newest first (keyset: ``before_id`` is the cursor)."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
    if state is not None:
        stmt = stmt.where(WebhookDelivery.state == state)
    if before_id is not None:
        stmt = stmt.where(WebhookDelivery.id < before_id)
    stmt = stmt.order_by(WebhookDelivery.id.desc()).limit(limit)
    return (await session.execute(stmt)).scalars().all()


async def cancel_pending(session: AsyncSession, subscription_id: str) -> None:
    await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.subscription_id == subscription_id,
            WebhookDelivery.state == "pending",
        )
        .values(state="cancelled", next_attempt_at=None)
    )


async def claim_due(
    session: AsyncSession, now: dt.datetime, limit: int, lease_until: dt.datetime
) -> list[int]:
    """Take up to ``limit`` due deliveries of active (or deleted) subscriptions: their next
    attempt moves to ``lease_until`` so no other dispatcher (another replica)
    takes them meanwhile. PostgreSQL skips rows another transaction is claiming; SQLite
    has one writer already."""
    stmt = (
        select(WebhookDelivery.id)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(
            WebhookDelivery.state == "pending",
            WebhookDelivery.next_attempt_at <= now,
            # A deleted subscription's delivery is taken too, to be cancelled: one a
            # consumer enqueued while the deletion committed would stay pending forever.
            or_(
                WebhookSubscription.active.is_(True),
                WebhookSubscription.deleted_at.is_not(None),
            ),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    )
    ids = list((await session.execute(stmt)).scalars())
    if ids:
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(ids))
            .values(next_attempt_at=lease_until)
        )
    return ids


async def load_for_send(
    session: AsyncSession, ids: list[int]
) -> Sequence[tuple[WebhookDelivery, WebhookSubscription]]:
    stmt = (
        select(WebhookDelivery, WebhookSubscription)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
        .where(WebhookDelivery.id.in_(ids))
        .order_by(WebhookDelivery.id)
    )
    return [(r[0], r[1]) for r in (await session.execute(stmt)).all()]
