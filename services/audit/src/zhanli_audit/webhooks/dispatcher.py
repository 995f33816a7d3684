"""The dispatcher: sends due deliveries, at most N at a time, and records each attempt.

Due rows are claimed with a lease (their next attempt moves past the request timeout), so
several audit-service replicas share the work without sending a delivery twice at once; a
replica that dies mid-send leaves a lease that expires and the delivery is sent again
(at least once: receivers deduplicate on ``X-Zhanli-Event-Id``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from dataclasses import dataclass

import aiohttp
import structlog
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zhanli_audit.settings import AuditSettings
from zhanli_audit.webhooks import core, repository, service
from zhanli_audit.webhooks.models import WebhookDelivery
from zhanli_shared.crypto import FieldCipher
from zhanli_shared.db import utcnow

log = structlog.get_logger("zhanli.webhooks")

ATTEMPTS = Counter("zhanli_webhook_attempts_total", "Webhook delivery attempts", ["outcome"])
USER_AGENT = "Zhanli-Webhooks/1"


@dataclass(frozen=True)
class Send:
    delivery_id: int
    url: str
    fmt: str
    body: bytes
    secrets: tuple[str, ...]
    event_id: str
    event_type: str
    attempt: int
    error: str | None = None  # set when the request cannot even be built


@dataclass(frozen=True)
class Outcome:
    status: int | None
    error: str | None
    retry_after: float | None = None


class WebhookDispatcher:
    def __init__(
        self,
        settings: AuditSettings,
        sessions: async_sessionmaker[AsyncSession],
        cipher: FieldCipher | None,
        http: aiohttp.ClientSession | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.cipher = cipher
        self._http = http
        self._own_http = http is None
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self.sent_total = 0

    async def start(self) -> None:
        if self._http is None:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self.settings.webhook_max_concurrency, ttl_dns_cache=300
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"user-agent": USER_AGENT},
            )
        self._task = asyncio.create_task(self.run(), name="webhook-dispatcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        for task in list(self._inflight):
            task.cancel()
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        if self._own_http and self._http is not None:
            await self._http.close()
            self._http = None

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        error_wait = 0.5
        while True:
            try:
                free = self.settings.webhook_max_concurrency - len(self._inflight)
                sends = await self.claim(free) if free > 0 else []
                for send in sends:
                    task = asyncio.create_task(self._deliver(send))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
                error_wait = 0.5
                if free <= 0 or (sends and len(sends) == free):
                    # Saturated: claim again as soon as one send finishes.
                    await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.webhook_poll_interval_s)
                self._wake.clear()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("webhooks.dispatch_error", error=repr(exc), wait_s=error_wait)
                await asyncio.sleep(error_wait)
                error_wait = min(error_wait * 2, 30.0)

    async def claim(self, limit: int) -> list[Send]:
        """Take due deliveries (one short transaction) and build their requests."""
        now = utcnow()
        lease = dt.timedelta(seconds=self.settings.webhook_timeout_s + 60)
        limit = min(limit, self.settings.webhook_batch_size)
        async with self.sessions() as session:
            ids = await repository.claim_due(session, now, limit, now + lease)
            rows = await repository.load_for_send(session, ids) if ids else []
            # A delivery enqueued while its subscription was being deleted is cancelled
            # here, never sent; a paused subscription's deliveries wait for their lease.
            for delivery, sub in rows:
                if sub.deleted_at is not None:
                    delivery.state = "cancelled"
                    delivery.next_attempt_at = None
            rows = [(d, s) for d, s in rows if s.deleted_at is None and s.active]
            await session.commit()
        sends = []
        for delivery, sub in rows:
            error = None
            secrets: tuple[str, ...] = ()
            body = b""
            try:
                if self.cipher is None:
                    raise RuntimeError("no data keys configured: cannot read the signing secret")
                secrets = tuple(service.signing_secrets(self.cipher, sub, now))
                body = core.render(sub.format, delivery.event)
            except Exception as exc:
                error = f"cannot build the request: {type(exc).__name__}: {exc}"
            sends.append(
                Send(
                    delivery_id=delivery.id,
                    url=sub.url,
                    fmt=sub.format,
                    body=body,
                    secrets=secrets,
                    event_id=delivery.event_id,
                    event_type=delivery.event_type,
                    attempt=delivery.attempts + 1,
                    error=error,
                )
            )
        return sends

    async def _deliver(self, send: Send) -> None:
        outcome = Outcome(None, send.error) if send.error else await self.post(send)
        ok = outcome.error is None and outcome.status is not None and 200 <= outcome.status < 300
        ATTEMPTS.labels("delivered" if ok else "failed").inc()
        if ok:
            self.sent_total += 1
        else:
            log.info(
                "webhooks.attempt_failed",
                delivery_id=send.delivery_id,
                attempt=send.attempt,
                status=outcome.status,
                error=outcome.error,
            )
        for wait in (0.1, 0.5, 2.0, None):
            try:
                await self.record(send.delivery_id, outcome)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if wait is None:  # the lease expires and the delivery is sent again
                    log.error(
                        "webhooks.record_failed", delivery_id=send.delivery_id, error=repr(exc)
                    )
                    return
                await asyncio.sleep(wait)

    async def post(self, send: Send) -> Outcome:
        assert self._http is not None
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "X-Zhanli-Event-Id": send.event_id,
            "X-Zhanli-Event-Type": send.event_type,
            "X-Zhanli-Timestamp": timestamp,
            "X-Zhanli-Delivery-Id": str(send.delivery_id),
            "X-Zhanli-Delivery-Attempt": str(send.attempt),
            "X-Zhanli-Signature": core.signature_header(send.secrets, timestamp, send.body),
        }
        try:
            async with self._http.post(
                send.url,
                data=send.body,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.settings.webhook_timeout_s),
            ) as resp:
                head = await resp.content.read(2048)
                status = resp.status
                if 200 <= status < 300:
                    return Outcome(status, core.robot_error(send.fmt, head))
                snippet = head[:300].decode("utf-8", "replace").strip()
                retry_after = (
                    core.retry_after_s(resp.headers.get("retry-after"))
                    if status in (429, 503)
                    else None
                )
                return Outcome(
                    status, f"HTTP {status}" + (f": {snippet}" if snippet else ""), retry_after
                )
        except TimeoutError:
            return Outcome(None, f"timed out after {self.settings.webhook_timeout_s:g}s")
        except aiohttp.ClientError as exc:
            return Outcome(None, f"{type(exc).__name__}: {exc}"[:1000])

    async def record(self, delivery_id: int, outcome: Outcome) -> None:
        async with self.sessions() as session:
            # Locked, so a cancellation committed meanwhile is seen, and one running now
            # waits for this write instead of being overwritten by it.
            delivery = await session.get(WebhookDelivery, delivery_id, with_for_update=True)
            if delivery is None or delivery.state != "pending":
                return  # cancelled meanwhile (subscription deleted)
            service.apply_outcome(
                delivery,
                self.settings,
                now=utcnow(),
                status=outcome.status,
                error=outcome.error,
                retry_after=outcome.retry_after,
            )
            await session.commit()
