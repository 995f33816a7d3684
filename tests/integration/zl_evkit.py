"""A tiny test "service" for the event fault tests: its own tables, settings and contracts.

Each test service gets a unique ``service_name`` (the relay's PostgreSQL advisory lock is
keyed on it) and each test gets its own contract, hence its own topic, so the SQLite and
PostgreSQL runs of one test never read each other's messages.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import Field
from pydantic_settings import SettingsConfigDict
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from zhanli_shared.db import Money, create_engine, ensure_schema, new_metadata, session_factory
from zhanli_shared.events.contracts import base as contracts_base
from zhanli_shared.events.contracts.base import EventContract, MoneyStr
from zhanli_shared.events.kafka import make_producer
from zhanli_shared.events.outbox import EventTables, Publisher, define_event_tables
from zhanli_shared.settings import ServiceSettings


class ItemEvent(EventContract):
    """Test payload; no ``event_type`` here, so it is not registered itself."""

    key_field: ClassVar[str] = "item_id"

    item_id: str = Field(min_length=1, max_length=64)
    seq: int
    amount: MoneyStr = Decimal("0.00")


_CREATED: list[str] = []


def new_contract(tag: str) -> type[ItemEvent]:
    """A fresh contract (and so a fresh topic) ``zhanli.test.<tag>_<random>.v1``."""
    suffix = uuid.uuid4().hex[:8]
    cls = type(
        f"ZtItem_{tag}_{suffix}",
        (ItemEvent,),
        {"event_type": f"zhanli.test.{tag}_{suffix}", "__module__": __name__},
    )
    _CREATED.append(cls.topic_name())
    return cls  # type: ignore[return-value]


def forget_contracts() -> None:
    """Drop the test contracts from the global registry (so platform-wide contract checks
    run later in the same session do not see them)."""
    while _CREATED:
        contracts_base._REGISTRY.pop(_CREATED.pop(), None)


def settings_for(bootstrap: str, **overrides: Any) -> ServiceSettings:
    """Settings of a throw-away service with a unique name and fast timings."""
    name = f"evt{uuid.uuid4().hex[:10]}"
    cls = type(
        f"Settings_{name}",
        (ServiceSettings,),
        {
            "service_name": name,
            "model_config": SettingsConfigDict(
                env_prefix=f"ZLTEST_{name.upper()}_", extra="ignore", env_nested_delimiter="__"
            ),
            "__module__": __name__,
        },
    )
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": bootstrap,
        "relay_poll_interval_s": 0.05,
        "relay_max_backoff_s": 0.5,
        "consumer_retry_backoff_s": 0.01,
        "consumer_max_attempts": 3,
        "log_json": True,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return cls(**values)


@dataclass
class Svc:
    settings: ServiceSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    metadata: MetaData
    tables: EventTables
    items: Table
    effects: Table
    publisher: Publisher

    async def scalar(self, stmt: Any) -> Any:
        async with self.sessions() as session:
            return (await session.execute(stmt)).scalar()

    async def rows(self, stmt: Any) -> list[Any]:
        async with self.sessions() as session:
            return list((await session.execute(stmt)).all())

    async def count(self, table: Table, *where: Any) -> int:
        return int(await self.scalar(select(func.count()).select_from(table).where(*where)))

    async def publish(self, *events: EventContract) -> list[Any]:
        """Publish events in one committed transaction; return their envelopes."""
        async with self.sessions() as session:
            envelopes = [await self.publisher.publish(session, e) for e in events]
            await session.commit()
        return envelopes

    async def close(self) -> None:
        await self.engine.dispose()


async def open_service(url: str, schema: str | None, bootstrap: str, **overrides: Any) -> Svc:
    metadata = new_metadata()
    tables = define_event_tables(metadata)
    items = Table(
        "zt_items",
        metadata,
        Column("item_id", String(64), primary_key=True),
        Column("amount", Money(), nullable=False),
    )
    effects = Table(  # deliberately no unique constraint: a double apply shows as two rows
        "zt_effects",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False),
        Column("topic", String(200), nullable=False),
        Column("item_id", String(64), nullable=False),
        Column("seq", Integer, nullable=False),
        Column("note", String(200), nullable=True),
    )
    settings = settings_for(bootstrap, database_url=url, database_schema=schema, **overrides)
    engine = create_engine(url, schema=schema)
    await ensure_schema(engine, schema)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return Svc(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        metadata=metadata,
        tables=tables,
        items=items,
        effects=effects,
        publisher=Publisher(tables, source=f"zhanli/{settings.service_name}"),
    )


async def produce(
    settings: ServiceSettings, topic: str, values: Iterable[bytes], key: bytes | None = None
) -> list[Any]:
    """Produce raw bytes (as another, possibly broken, producer would); return metadata."""
    producer = make_producer(settings)
    await producer.start()
    try:
        return [await producer.send_and_wait(topic, value=v, key=key) for v in values]
    finally:
        await producer.stop()


async def read_topic(bootstrap: str, topic: str, timeout_s: float = 10.0) -> list[ConsumerRecord]:
    """Every record now in ``topic`` (read to the end offsets), in partition/offset order."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        parts = consumer.partitions_for_topic(topic)
        while not parts:
            if loop.time() > deadline:
                raise AssertionError(f"topic {topic} has no partitions")
            await consumer.topics()
            parts = consumer.partitions_for_topic(topic)
            if not parts:
                await asyncio.sleep(0.05)
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        records: list[ConsumerRecord] = []
        while True:
            positions = {tp: await consumer.position(tp) for tp in tps}
            if all(positions[tp] >= end[tp] for tp in tps):
                break
            if loop.time() > deadline:
                raise AssertionError(f"could not read {topic} to its end within {timeout_s}s")
            batch = await consumer.getmany(*tps, timeout_ms=100)
            for recs in batch.values():
                records.extend(recs)
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()


def header(record: ConsumerRecord, name: str) -> str | None:
    for k, v in record.headers or ():
        if k == name:
            return v.decode()
    return None
