"""Webhook use cases (add and flush, never commit): manage subscriptions, enqueue
deliveries of consumed events, record the outcome of each attempt."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_audit.settings import AuditSettings
from zhanli_audit.webhooks import core, repository
from zhanli_audit.webhooks.models import WebhookDelivery, WebhookSubscription
from zhanli_audit.webhooks.schemas import SubscriptionCreate, SubscriptionUpdate
from zhanli_shared import audit
from zhanli_shared.auth import Principal
from zhanli_shared.crypto import FieldCipher
from zhanli_shared.db import utcnow
from zhanli_shared.errors import Conflict, NotFound, Unprocessable
from zhanli_shared.events.contracts.base import all_contracts
from zhanli_shared.events.envelope import CloudEvent
from zhanli_shared.events.outbox import Publisher

ENTITY = "webhook_subscription"


def secret_context(subscription_id: str, which: str = "secret") -> str:
    # "gateway:" because the gateway owned these rows when the first secrets were sealed:
    # the context is bound into every ciphertext, so carried rows must keep decrypting.
    return f"gateway:webhook_subscriptions:{subscription_id}:{which}"


def offered_topics(settings: AuditSettings) -> list[str]:
    return [t for t in all_contracts() if not core.matches(settings.webhook_blocked_topics, t)]


def _event_types(settings: AuditSettings, requested: list[str]) -> list[str]:
    try:
        return core.check_event_types(requested, all_contracts(), settings.webhook_blocked_topics)
    except ValueError as exc:
        raise Unprocessable(f"{exc}.", field="event_types") from None


def _audit_view(sub: WebhookSubscription) -> dict[str, Any]:
    return {
        "name": sub.name,
        "url": sub.url,
        "event_types": list(sub.event_types),
        "format": sub.format,
        "active": sub.active,
    }


async def _record(
    session: AsyncSession,
    publisher: Publisher,
    actor: Principal,
    action: str,
    sub: WebhookSubscription,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    source_ip: str | None,
) -> None:
    await audit.record(
        session,
        publisher,
        actor=actor,
        action=f"webhooks.subscription.{action}",
        entity_type=ENTITY,
        entity_id=sub.id,
        before=before,
        after=after,
        source_ip=source_ip,
    )


async def create(
    session: AsyncSession,
    publisher: Publisher,
    cipher: FieldCipher,
    settings: AuditSettings,
    body: SubscriptionCreate,
    *,
    actor: Principal,
    source_ip: str | None,
) -> tuple[WebhookSubscription, str]:
    _invalidate_on_commit(session)
    try:
        url = core.check_url(body.url, settings.webhook_http_allowed_hosts)
    except ValueError as exc:
        raise Unprocessable(f"{exc}.", field="url") from None
    event_types = _event_types(settings, body.event_types)
    now = utcnow()
    sub_id = str(uuid.uuid4())
    secret = core.new_secret()
    sub = WebhookSubscription(
        id=sub_id,
        name=body.name,
        url=url,
        event_types=event_types,
        format=body.format,
        active=body.active,
        secret_enc=cipher.encrypt(secret, context=secret_context(sub_id)),
        previous_secret_enc=None,
        previous_secret_expires_at=None,
        created_by=actor.subject,
        created_at=now,
        updated_at=now,
        deleted_at=None,
    )
    session.add(sub)
    await session.flush()
    await _record(session, publisher, actor, "created", sub, None, _audit_view(sub), source_ip)
    return sub, secret


async def get(session: AsyncSession, subscription_id: str) -> WebhookSubscription:
    sub = await repository.get(session, subscription_id)
    if sub is None:
        raise NotFound(f"No webhook subscription {subscription_id}.")
    return sub


async def update(
    session: AsyncSession,
    publisher: Publisher,
    settings: AuditSettings,
    subscription_id: str,
    body: SubscriptionUpdate,
    *,
    actor: Principal,
    source_ip: str | None,
) -> WebhookSubscription:
    _invalidate_on_commit(session)
    sub = await get(session, subscription_id)
    before = _audit_view(sub)
    if body.name is not None:
        sub.name = body.name
    if body.event_types is not None:
        sub.event_types = _event_types(settings, body.event_types)
    if body.active is not None:
        sub.active = body.active
    sub.updated_at = utcnow()
    await session.flush()
    await _record(session, publisher, actor, "updated", sub, before, _audit_view(sub), source_ip)
    return sub


async def delete(
    session: AsyncSession,
    publisher: Publisher,
    subscription_id: str,
    *,
    actor: Principal,
    source_ip: str | None,
) -> None:
    """Soft delete: the row and its delivery log stay; pending deliveries are cancelled."""
    _invalidate_on_commit(session)
    sub = await get(session, subscription_id)
    before = _audit_view(sub)
    sub.active = False
    sub.deleted_at = sub.updated_at = utcnow()
    await repository.cancel_pending(session, sub.id)
    await session.flush()
    await _record(session, publisher, actor, "deleted", sub, before, None, source_ip)


async def rotate_secret(
    session: AsyncSession,
    publisher: Publisher,
    cipher: FieldCipher,
    settings: AuditSettings,
    subscription_id: str,
    *,
    actor: Principal,
    source_ip: str | None,
) -> tuple[WebhookSubscription, str]:
    """A new secret signs from now on; the old one signs too (second signature) for the
    grace period, so receivers can switch without losing deliveries."""
    sub = await get(session, subscription_id)
    old = cipher.decrypt(sub.secret_enc, context=secret_context(sub.id))
    secret = core.new_secret()
    now = utcnow()
    sub.secret_enc = cipher.encrypt(secret, context=secret_context(sub.id))
    if settings.webhook_secret_grace_s > 0:
        sub.previous_secret_enc = cipher.encrypt(
            old, context=secret_context(sub.id, "previous_secret")
        )
        sub.previous_secret_expires_at = now + dt.timedelta(seconds=settings.webhook_secret_grace_s)
    else:
        sub.previous_secret_enc = sub.previous_secret_expires_at = None
    sub.updated_at = now
    await session.flush()
    await _record(
        session, publisher, actor, "secret_rotated", sub, None, {"secret": "rotated"}, source_ip
    )
    return sub, secret


def signing_secrets(cipher: FieldCipher, sub: WebhookSubscription, now: dt.datetime) -> list[str]:
    found = [cipher.decrypt(sub.secret_enc, context=secret_context(sub.id))]
    if (
        sub.previous_secret_enc
        and sub.previous_secret_expires_at is not None
        and sub.previous_secret_expires_at > now
    ):
        found.append(
            cipher.decrypt(
                sub.previous_secret_enc, context=secret_context(sub.id, "previous_secret")
            )
        )
    return found


# Every event the service consumes asks which subscriptions match: answer from memory for a
# moment instead of querying per event. Changes made here invalidate it at once; another
# replica sees them within MATCHERS_TTL_S.
MATCHERS_TTL_S = 2.0
_matchers: tuple[float, list[tuple[Any, list[str]]]] | None = None


def invalidate_matchers() -> None:
    global _matchers
    _matchers = None


def _invalidate_on_commit(session: AsyncSession) -> None:
    """Forget the cached matchers now and again once this change is committed."""
    invalidate_matchers()
    sa_event.listen(
        session.sync_session, "after_commit", lambda _s: invalidate_matchers(), once=True
    )


async def _active_matchers(session: AsyncSession) -> list[tuple[Any, list[str]]]:
    global _matchers
    now = time.monotonic()
    if _matchers is None or now - _matchers[0] > MATCHERS_TTL_S:
        rows = await repository.active_matchers(session)
        _matchers = (now, [(sub_id, list(patterns)) for sub_id, patterns in rows])
    return _matchers[1]


async def enqueue(session: AsyncSession, envelope: CloudEvent) -> int:
    """One pending delivery per matching active subscription (in the consumer's
    transaction); an event already enqueued for a subscription is not enqueued again."""
    targets = [
        sub_id
        for sub_id, patterns in await _active_matchers(session)
        if core.matches(patterns, envelope.type)
    ]
    if not targets:
        return 0
    done = await repository.existing_deliveries(session, envelope.id, targets)
    todo = [t for t in targets if t not in done]
    if not todo:
        return 0
    now = utcnow()
    event = envelope.model_dump(mode="json", exclude_none=True)
    await session.execute(
        insert(WebhookDelivery),
        [
            {
                "subscription_id": sub_id,
                "event_id": envelope.id,
                "event_type": envelope.type,
                "event": event,
                "state": "pending",
                "attempts": 0,
                "manual_retries": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for sub_id in todo
        ],
    )
    return len(todo)


async def requeue(session: AsyncSession, delivery_id: int) -> WebhookDelivery:
    """Send a failed (or delivered) delivery again: a new round of attempts."""
    delivery = await repository.get_delivery(session, delivery_id)
    if delivery is None or await repository.get(session, delivery.subscription_id) is None:
        raise NotFound(f"No webhook delivery {delivery_id}.")
    if delivery.state == "pending":
        raise Conflict("The delivery is already queued.")
    if delivery.state == "cancelled":
        raise Conflict("The delivery was cancelled with its subscription.")
    delivery.state = "pending"
    delivery.attempts = 0
    delivery.manual_retries += 1
    delivery.next_attempt_at = utcnow()
    await session.flush()
    return delivery


def apply_outcome(
    delivery: WebhookDelivery,
    settings: AuditSettings,
    *,
    now: dt.datetime,
    status: int | None,
    error: str | None,
    retry_after: float | None = None,
) -> None:
    """Record one attempt: 2xx without error = delivered; else retry later or fail."""
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = status
    delivery.last_error = error[:1000] if error else None
    if error is None and status is not None and 200 <= status < 300:
        delivery.state = "delivered"
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        return
    if delivery.attempts >= settings.webhook_max_attempts:
        delivery.state = "failed"
        delivery.next_attempt_at = None
        return
    delay = core.backoff_s(
        delivery.attempts,
        base_s=settings.webhook_backoff_base_s,
        cap_s=settings.webhook_backoff_cap_s,
        jitter=settings.webhook_backoff_jitter,
    )
    if retry_after is not None:
        delay = max(delay, min(retry_after, settings.webhook_backoff_cap_s))
    delivery.next_attempt_at = now + dt.timedelta(seconds=delay)
