"""broker.raw_throughput: aiokafka produce + consume through a local Tansu broker.

The platform's own client settings (acks=all, manual commits, 'earliest'): N keyed
~200-byte messages produced as fast as the producer takes them while a consumer group
reads them and commits after every batch. The figure is end to end: N divided by the
time from the first send to the last message consumed. Every message must arrive once.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from bench_common import BenchError, Result, Ticker, phase, say

from zhanli_shared.events.kafka import consumer_options, ensure_topics, producer_options
from zhanli_shared.settings import ServiceSettings
from zhanli_shared.testing.broker import TansuBroker

TOPIC = "zhanli.bench.raw"
GROUP = "zhanli-bench-raw"
IN_FLIGHT = 2000  # sends awaited in batches of this many


async def _measure(
    bootstrap: str, n: int, value_size: int, keys: int, timeout_s: float
) -> tuple[Result, dict[str, float]]:
    settings = ServiceSettings(kafka_bootstrap_servers=bootstrap, kafka_client_id="zhanli-bench")
    await ensure_topics(settings, [TOPIC])
    consumer = AIOKafkaConsumer(TOPIC, **consumer_options(settings, GROUP))
    producer = AIOKafkaProducer(**producer_options(settings))
    await consumer.start()
    await producer.start()
    try:
        deadline = time.monotonic() + 30
        while not consumer.assignment():
            if time.monotonic() > deadline:
                raise BenchError("the bench consumer got no partitions within 30s")
            await asyncio.sleep(0.05)
        say(
            f"consumer group {GROUP} joined: {len(consumer.assignment())} partitions of {TOPIC} "
            f"({settings.kafka_topic_partitions} configured)"
        )
        seen = bytearray(n)
        state = {"produced": 0, "consumed": 0, "dupes": 0, "commits": 0, "last": 0.0}
        done = asyncio.Event()

        async def consume() -> None:
            while not done.is_set():
                batches = await consumer.getmany(timeout_ms=200)
                got = 0
                for records in batches.values():
                    for rec in records:
                        (seq,) = struct.unpack_from(">Q", rec.value)
                        if seen[seq]:
                            state["dupes"] += 1
                        else:
                            seen[seq] = 1
                            state["consumed"] += 1
                        got += 1
                if got:
                    await consumer.commit()
                    state["commits"] += 1
                    state["last"] = time.perf_counter()
                    if state["consumed"] >= n:
                        done.set()

        filler = b"x" * (value_size - 8)
        t0 = time.perf_counter()
        reader = asyncio.create_task(consume())

        def report() -> str:
            return (
                f"produced {state['produced']:,}/{n:,}  consumed {state['consumed']:,}/{n:,}"
                f"  ({time.perf_counter() - t0:.1f}s)"
            )

        async with Ticker(report, every=3.0):
            pending = []
            for seq in range(n):
                pending.append(
                    await producer.send(
                        TOPIC,
                        value=struct.pack(">Q", seq) + filler,
                        key=f"customer-{seq % keys:05d}".encode(),
                    )
                )
                if len(pending) >= IN_FLIGHT:
                    await asyncio.gather(*pending)
                    state["produced"] += len(pending)
                    pending.clear()
            await asyncio.gather(*pending)
            state["produced"] += len(pending)
            t_produced = time.perf_counter()
            try:
                await asyncio.wait_for(done.wait(), max(1.0, timeout_s - (t_produced - t0)))
            except TimeoutError:
                pass
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
    finally:
        for client in (producer, consumer):
            with contextlib.suppress(Exception):
                await client.stop()
    if state["consumed"] < n:
        raise BenchError(
            f"broker.raw_throughput: only {state['consumed']:,} of {n:,} messages "
            f"were consumed within {timeout_s:.0f}s"
        )
    elapsed = state["last"] - t0
    produce_s = t_produced - t0
    rate = n / elapsed
    result = Result(
        "broker.raw_throughput",
        rate,
        "msgs/s",
        higher_is_better=True,
        notes=(
            f"{n:,} msgs x {value_size} B, {keys} keys, topic of "
            f"{settings.kafka_topic_partitions} partitions, acks=all, linger_ms=2; 1 consumer "
            f"(group, manual commit per batch, {int(state['commits'])} commits); "
            f"first send -> last consumed {elapsed:.2f}s; produce alone {produce_s:.2f}s "
            f"({n / produce_s:,.0f} msgs/s); duplicates {int(state['dupes'])}; "
            f"Tansu memory storage"
        ),
    )
    if state["dupes"]:
        raise BenchError(
            f"broker.raw_throughput: {int(state['dupes'])} duplicate deliveries", [result.notes]
        )
    say(
        f"broker.raw_throughput: {rate:,.0f} msgs/s ({n:,} in {elapsed:.2f}s; produce alone "
        f"{produce_s:.2f}s)"
    )
    return result, {"elapsed_s": elapsed, "produce_s": produce_s}


def run(
    n: int,
    *,
    value_size: int = 200,
    keys: int = 1000,
    timeout_s: float = 60.0,
    log_dir: Path | None = None,
) -> Result:
    phase(f"broker.raw_throughput: {n:,} messages through a fresh Tansu broker")
    broker = TansuBroker(log_path=(log_dir / "bench-broker.log") if log_dir else None)
    broker.start()
    say(f"Tansu broker on {broker.bootstrap} (pid {broker.proc.pid if broker.proc else '?'})")
    try:
        result, _ = asyncio.run(_measure(broker.bootstrap, n, value_size, keys, timeout_s))
        return result
    finally:
        broker.stop()
        say("Tansu broker stopped")
