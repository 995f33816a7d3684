"""A test's own rows: while a service's consumer still applies earlier tests' events (and,
in a module's second database run, the first run's events from the shared broker), its
tables grow under any test. Count and compare only the rows that name the test's own ids."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, or_, select
from sqlalchemy.ext.asyncio import AsyncSession


async def outbox_rows_about(
    session: AsyncSession, outbox: Table, *ids: str, topic: str | None = None
) -> list[tuple[Any, ...]]:
    """The outbox rows (event id, topic) whose key is one of ``ids`` or whose payload
    names one of them, in outbox order; of one topic when ``topic`` is given. Use ids
    made fresh for the test (``uuid4``), never shared ones."""
    assert ids, "name the test's own ids"
    about = or_(
        outbox.c.key.in_(ids),
        *(outbox.c.payload.contains(i, autoescape=True) for i in ids),
    )
    stmt = select(outbox.c.event_id, outbox.c.topic).where(about).order_by(outbox.c.id)
    if topic is not None:
        stmt = stmt.where(outbox.c.topic == topic)
    return [tuple(r) for r in (await session.execute(stmt)).all()]


async def settled(svc: Any, *ids: str, timeout_s: float = 30.0) -> None:
    """Wait until the service's own consumers have applied every event it published about
    ``ids`` on a topic it consumes (its inbox holds each one): after that, nothing the
    test did is still in flight, and a before/after comparison of its rows is fair."""
    from zhanli_shared.testing.plugin import eventually

    runtime = svc.runtime
    consumed = sorted({t for c in runtime.consumers for t in c.registry.topics})
    inbox = runtime.tables.inbox

    async def applied() -> bool:
        async with runtime.sessions() as session:
            published = {
                event_id
                for event_id, topic in await outbox_rows_about(session, runtime.tables.outbox, *ids)
                if topic in consumed
            }
            if not published:
                return True
            seen = set(
                (
                    await session.execute(
                        select(inbox.c.event_id).where(inbox.c.event_id.in_(published))
                    )
                ).scalars()
            )
        return seen >= published

    await eventually(applied, timeout_s=timeout_s)
