"""The commission service alone, as real processes, fed straight through the broker.

- ``commission.throughput_pg`` / ``commission.throughput_sqlite``: N PaymentReceived
  events produced to the broker as fast as it takes them (as an ERP would), keyed by
  salesperson over many reps; the figure is N divided by the time from the first send
  until every payment has its commission line in the database *and* every
  ``commission.calculated`` event has been seen on the broker (outbox + relay). Checked:
  each payment has exactly one line, an ``earning``, and one event.
- ``commission.latency_p50_ms`` / ``commission.latency_p99_ms`` (PostgreSQL): an open loop
  of payments at a fixed rate; latency = just before the send -> the line is committed
  (readable by the statement endpoint), found by polling the database for the outstanding
  payment ids; cross-checked with the line's ``calculated_at`` (server clock, same host).
- ``commission.recalc_period_s`` (PostgreSQL): ``recalculate_period`` of one period for
  R reps with D credited payments each, seeded by COPY; first run appends every line; a
  second run must append nothing.

Each phase gets a fresh Tansu broker and a fresh database (a new PostgreSQL schema, dropped
afterwards, or a SQLite file in the scratch dir). The service runs as
``python -m zhanli_commission serve`` (API + relay + consumer in one process), plus
``consume`` processes when asked (``--commission-consumers``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import subprocess
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from bench_common import (
    BenchError,
    Result,
    Ticker,
    descendants,
    kill_remembered,
    percentile,
    phase,
    python,
    say,
)
from bench_platform import _die_with_parent, cpu_report, cpu_seconds
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from zhanli_commission.commissions.models import CommissionLine, Credit
from zhanli_commission.db import event_tables, people_table
from zhanli_commission.sales.models import Deal
from zhanli_commission.settings import CommissionSettings
from zhanli_shared.db import create_engine, normalise_url, utcnow
from zhanli_shared.events.contracts.commission import CommissionCalculated
from zhanli_shared.events.contracts.sales import PaymentReceived
from zhanli_shared.events.envelope import CloudEvent
from zhanli_shared.events.kafka import consumer_options, ensure_topics, producer_options
from zhanli_shared.money import business_month
from zhanli_shared.settings import ServiceSettings
from zhanli_shared.testing.broker import TansuBroker, free_port
from zhanli_shared.topics import platform_topics

ROOT = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("Asia/Shanghai")
PAYMENTS = PaymentReceived.topic_name()
CALCULATED = CommissionCalculated.topic_name()
IN_FLIGHT = 2000


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine (other users' work included)."""
    with open("/proc/stat") as f:
        parts = [int(x) for x in f.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


def machine_report(before: tuple[float, float], after: tuple[float, float]) -> str:
    busy = after[0] - before[0]
    total = max(after[1] - before[1], 1)
    return f"machine CPU busy {busy / total * 100:.0f}% of {os.cpu_count()} cores"


# --- the database under test ------------------------------------------------------------


class Database:
    """A fresh place for the service's tables: a PG schema or a SQLite file."""

    def __init__(self, backend: str, var: Path, pg_url: str | None) -> None:
        self.backend = backend
        if backend == "postgres":
            assert pg_url
            self.url = pg_url
            self.schema: str | None = f"bench_{uuid.uuid4().hex[:10]}_commission"
        else:
            self.url = f"sqlite+aiosqlite:///{var / f'commission-{uuid.uuid4().hex[:6]}.db'}"
            self.schema = None
        self.engine = create_engine(self.url, schema=self.schema, pool_size=4)
        # Reads: on SQLite not through the service's engine, whose every transaction takes
        # the write lock (BEGIN IMMEDIATE); a plain reader sees the WAL's last commit.
        self.reader = (
            create_async_engine(normalise_url(self.url)) if self.schema is None else self.engine
        )

    @property
    def label(self) -> str:
        return "PostgreSQL" if self.backend == "postgres" else "SQLite"

    def env(self) -> dict[str, str]:
        env = {"ZHANLI_COMMISSION_DATABASE_URL": self.url}
        if self.schema:
            env["ZHANLI_COMMISSION_DATABASE_SCHEMA"] = self.schema
        return env

    def settings(self) -> CommissionSettings:
        return CommissionSettings(database_url=self.url, database_schema=self.schema)

    async def close(self) -> None:
        await self.engine.dispose()
        await self.reader.dispose()
        if self.schema:
            eng = create_engine(self.url)
            async with eng.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
            await eng.dispose()

    async def seed_people(self, ids: list[str]) -> None:
        now = utcnow()
        rows = [
            {
                "employee_id": eid,
                "name": f"Bench {eid}",
                "org_unit_id": "BENCH-T1",
                "org_path": ["BENCH", "BENCH-T1"],
                "manager_id": None,
                "job_role": "salesperson",
                "status": "active",
                "hired_on": dt.date(2024, 3, 1),
                "updated_at": now,
            }
            for eid in ids
        ]
        async with self.engine.begin() as conn:
            for i in range(0, len(rows), 1000):
                await conn.execute(insert(people_table), rows[i : i + 1000])

    async def seed_deals(self, deals: dict[str, str], closed_at: dt.datetime) -> None:
        now = utcnow()
        rows = [
            {
                "deal_id": deal_id,
                "salesperson_id": rep,
                "customer_name": "Bench Customer Co.",
                "amount": Decimal("100000000.00"),
                "collected": Decimal("0.00"),
                "currency": "CNY",
                "product_line": "ocean_freight",
                "closed_at": closed_at,
                "source": "crm",
                "created_at": now,
                "margin": None,
                "refunded": Decimal("0.00"),
                "status": "open",
            }
            for deal_id, rep in deals.items()
        ]
        async with self.engine.begin() as conn:
            for i in range(0, len(rows), 1000):
                await conn.execute(insert(Deal.__table__), rows[i : i + 1000])

    async def lines_found(self, prefix: str) -> int:
        async with self.reader.connect() as conn:
            return (
                await conn.execute(
                    select(func.count()).where(CommissionLine.payment_id.like(f"{prefix}%"))
                )
            ).scalar_one()

    async def visible(self, payment_ids: list[str]) -> list[tuple[str, dt.datetime]]:
        out: list[tuple[str, dt.datetime]] = []
        async with self.reader.connect() as conn:
            for i in range(0, len(payment_ids), 500):
                rows = await conn.execute(
                    select(CommissionLine.payment_id, CommissionLine.calculated_at).where(
                        CommissionLine.payment_id.in_(payment_ids[i : i + 500])
                    )
                )
                out += [(r[0], r[1]) for r in rows]
        return out

    async def verify(self, prefix: str, expected: set[str], label: str) -> str:
        """Every payment exactly one line, an earning; no other line for these payments."""
        async with self.reader.connect() as conn:
            rows = (
                await conn.execute(
                    select(CommissionLine.payment_id, CommissionLine.kind, func.count())
                    .where(CommissionLine.payment_id.like(f"{prefix}%"))
                    .group_by(CommissionLine.payment_id, CommissionLine.kind)
                )
            ).all()
        counts: dict[str, int] = {}
        wrong_kind = []
        for pid, kind, n in rows:
            counts[pid] = counts.get(pid, 0) + n
            if kind != "earning":
                wrong_kind.append(f"{pid}:{kind}")
        dupes = sorted(p for p, n in counts.items() if n > 1)
        missing = sorted(expected - counts.keys())
        extra = sorted(counts.keys() - expected)
        if dupes or missing or extra or wrong_kind:
            raise BenchError(
                f"{label}: commission lines do not match the payments",
                [
                    f"{len(missing)} missing {missing[:5]}",
                    f"{len(dupes)} duplicated {dupes[:5]}",
                    f"{len(extra)} unexpected {extra[:5]}",
                    f"{len(wrong_kind)} not earnings {wrong_kind[:5]}",
                ],
            )
        say(f"{label}: verified {len(expected):,} payments -> exactly one earning line each")
        return f"verified: {len(expected):,} payments -> exactly one earning line each"


# --- the service processes --------------------------------------------------------------


@dataclass
class ServiceProcs:
    db: Database
    bootstrap: str
    var: Path
    consumers: int = 1
    port: int = 0
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    remembered: dict[int, int] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not (k.startswith("ZHANLI_") and k != "ZHANLI_HOME")
        }
        env.update(self.db.env())
        env.update(
            {
                "PYTHONUNBUFFERED": "1",
                "ZHANLI_VAR_DIR": str(self.var),
                "ZHANLI_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
                "ZHANLI_LOG_LEVEL": "WARNING",
                "ZHANLI_COMMISSION_PORT": str(self.port),
            }
        )
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        self.port = free_port()
        env = self.env()
        t = time.perf_counter()
        migrate(env)
        say(f"{self.db.label} schema migrated in {time.perf_counter() - t:.1f}s")
        roles = ["serve"] + ["consume"] * (self.consumers - 1)
        for i, role in enumerate(roles):
            log = open(self.var / f"commission-{self.db.backend}-{i}-{role}.log", "ab")
            argv = [python(), "-m", "zhanli_commission", role]
            if role == "consume":
                argv += ["--port", str(free_port())]
            self.procs.append(
                subprocess.Popen(
                    argv,
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    preexec_fn=_die_with_parent,
                )
            )
        self.remember()
        say(
            f"commission service started on {self.db.label} (port {self.port}): "
            + ", ".join(f"{r} pid {p.pid}" for r, p in zip(roles, self.procs, strict=True))
        )

    def remember(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                with open(f"/proc/{p.pid}/stat", "rb") as f:
                    raw = f.read().decode(errors="replace")
                self.remembered[p.pid] = int(raw[raw.rfind(")") + 2 :].split()[19])
                self.remembered.update(descendants(p.pid))

    def pids(self) -> dict[str, int]:
        return {f"commission-{i}": p.pid for i, p in enumerate(self.procs)}

    async def wait_ready(self, timeout_s: float = 60.0) -> None:
        url = f"http://127.0.0.1:{self.port}/health/ready"
        deadline = time.monotonic() + timeout_s
        while True:
            for p in self.procs:
                if p.poll() is not None:
                    raise BenchError(f"a commission process exited with code {p.returncode}")
            if await asyncio.to_thread(_ready, url):
                return
            if time.monotonic() > deadline:
                raise BenchError(f"the commission service was not ready in {timeout_s:.0f}s")
            await asyncio.sleep(0.2)

    def stop(self) -> None:
        left = kill_remembered(self.remembered, grace_s=10)
        for p in self.procs:
            with contextlib.suppress(Exception):
                p.wait(5)
        self.procs.clear()
        say(f"commission service stopped ({len(left)} processes)")


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except Exception:
        return False


def migrate(env: dict[str, str]) -> None:
    done = subprocess.run(
        [python(), "-m", "zhanli_commission", "migrate"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise BenchError(
            "commission migrate failed", done.stderr.decode(errors="replace").splitlines()[-10:]
        )


# --- helpers ---------------------------------------------------------------------------


def payment_event(payment_id: str, deal_id: str, rep: str, n: int, paid_at: dt.datetime) -> bytes:
    event = PaymentReceived(
        payment_id=payment_id,
        deal_id=deal_id,
        salesperson_id=rep,
        amount=Decimal(f"{100 + n % 900}.{n % 100:02d}"),
        currency="CNY",
        paid_at=paid_at,
        source="erp",
    )
    return CloudEvent(
        source="bench/erp",
        type=PAYMENTS,
        subject=rep,
        time=utcnow(),
        data=event.model_dump(mode="json"),
    ).to_json()


class CalculatedCounter:
    """Counts ``commission.calculated`` events on the broker, per salesperson-key prefix."""

    def __init__(self, bootstrap: str) -> None:
        self.settings = ServiceSettings(
            kafka_bootstrap_servers=bootstrap, kafka_client_id="zhanli-bench-calc"
        )
        self.counts: dict[str, int] = {}
        self.last: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            CALCULATED,
            **consumer_options(self.settings, f"zhanli-bench-calc-{uuid.uuid4().hex[:6]}"),
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            now = time.perf_counter()
            for records in batches.values():
                for rec in records:
                    prefix = (rec.key or b"").decode()[:2]
                    self.counts[prefix] = self.counts.get(prefix, 0) + 1
                    self.last[prefix] = now

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._consumer:
            with contextlib.suppress(Exception):
                await self._consumer.stop()


@dataclass
class Setup:
    db: Database
    broker: TansuBroker
    svc: ServiceProcs
    producer: AIOKafkaProducer
    calc: CalculatedCounter
    paid_at: dt.datetime
    period: str


@contextlib.asynccontextmanager
async def commission_stack(
    backend: str,
    var: Path,
    pg_url: str | None,
    consumers: int,
    extra_env: dict[str, str] | None = None,
):
    """A fresh broker, database and commission service; always torn down."""
    db = Database(backend, var, pg_url)
    broker = TansuBroker(log_path=var / f"commission-{backend}-broker.log")
    broker.start()
    say(f"Tansu broker on {broker.bootstrap}")
    svc = ServiceProcs(db, broker.bootstrap, var, consumers=consumers, extra_env=extra_env or {})
    producer = None
    calc = None
    try:
        settings = ServiceSettings(kafka_bootstrap_servers=broker.bootstrap)
        await ensure_topics(settings, [*platform_topics(), "zhanli-commission.dlq"])
        svc.start()
        await svc.wait_ready()
        producer = AIOKafkaProducer(**producer_options(settings))
        await producer.start()
        calc = CalculatedCounter(broker.bootstrap)
        await calc.start()
        now = dt.datetime.now(TZ)
        paid_at = (now - dt.timedelta(minutes=1)).replace(microsecond=0)
        yield Setup(
            db, broker, svc, producer, calc, paid_at, business_month(paid_at, "Asia/Shanghai")
        )
    finally:
        if calc is not None:
            await calc.stop()
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()
        svc.stop()
        broker.stop()
        await db.close()


async def seed_reps(s: Setup, prefix: str, n: int, deals_per_rep: int = 1) -> dict[str, list[str]]:
    reps = {f"{prefix}{i:05d}": [] for i in range(n)}
    deals: dict[str, str] = {}
    for rep, ds in reps.items():
        for k in range(deals_per_rep):
            deal_id = f"D-{rep}-{k}"
            ds.append(deal_id)
            deals[deal_id] = rep
    t = time.perf_counter()
    await s.db.seed_people(list(reps))
    await s.db.seed_deals(deals, s.paid_at - dt.timedelta(days=1))
    say(
        f"seeded {n:,} salespeople ({prefix}*) and {len(deals):,} deals in {time.perf_counter() - t:.1f}s"
    )
    return reps


async def warm_up(s: Setup, n: int = 60) -> None:
    """A few payments first: the consumer group has joined and the caches are warm."""
    reps = await seed_reps(s, "WU", 20)
    t = time.perf_counter()
    for i in range(n):
        rep = f"WU{i % 20:05d}"
        await s.producer.send(
            PAYMENTS,
            value=payment_event(f"WU{i:07d}", reps[rep][0], rep, i, s.paid_at),
            key=rep.encode(),
        )
    await s.producer.flush()
    deadline = time.monotonic() + 60
    while await s.db.lines_found("WU") < n:
        if time.monotonic() > deadline:
            raise BenchError("warm-up payments got no commission within 60s")
        await asyncio.sleep(0.1)
    say(f"warm-up: {n} payments priced {time.perf_counter() - t:.1f}s after the first send")


# --- commission.throughput --------------------------------------------------------------


async def throughput(
    backend: str,
    var: Path,
    pg_url: str | None,
    *,
    n: int,
    reps: int,
    consumers: int,
    baseline: Result | None,
    timeout_s: float,
    name: str | None = None,
) -> Result:
    name = name or (
        "commission.throughput_pg" if backend == "postgres" else "commission.throughput_sqlite"
    )
    phase(f"{name}: {n:,} payment events straight to the broker over {reps:,} salespeople")
    async with commission_stack(backend, var, pg_url, consumers) as s:
        people = await seed_reps(s, "TP", reps)
        await warm_up(s)
        order = list(people)
        events = []
        for i in range(n):
            rep = order[i % len(order)]
            events.append((rep, payment_event(f"TP{i:07d}", people[rep][0], rep, i, s.paid_at)))
        expected = {f"TP{i:07d}" for i in range(n)}
        state = {"produced": 0, "lines": 0}
        pids = s.svc.pids()
        cpu0, m0 = cpu_seconds(pids), machine_cpu()
        t0 = time.perf_counter()

        def report() -> str:
            return (
                f"produced {state['produced']:,}/{n:,}, lines {state['lines']:,}, "
                f"commission.calculated seen {s.calc.counts.get('TP', 0):,}  "
                f"({time.perf_counter() - t0:.1f}s)"
            )

        async with Ticker(report, every=3.0):
            pending = []
            for rep, value in events:
                pending.append(await s.producer.send(PAYMENTS, value=value, key=rep.encode()))
                if len(pending) >= IN_FLIGHT:
                    await asyncio.gather(*pending)
                    state["produced"] += len(pending)
                    pending.clear()
            await asyncio.gather(*pending)
            state["produced"] += len(pending)
            t_produced = time.perf_counter()
            say(
                f"produced {n:,} payment events in {t_produced - t0:.2f}s ({n / (t_produced - t0):,.0f}/s)"
            )
            cpu_p = cpu_seconds(pids)
            t_lines = None
            deadline = t0 + timeout_s
            while time.perf_counter() < deadline:
                state["lines"] = await s.db.lines_found("TP")
                now = time.perf_counter()
                if t_lines is None and state["lines"] >= n:
                    t_lines = now
                if t_lines is not None and s.calc.counts.get("TP", 0) >= n:
                    break
                await asyncio.sleep(0.1)
        t_end = time.perf_counter()
        cpu1, m1 = cpu_seconds(pids), machine_cpu()
        if t_lines is None or s.calc.counts.get("TP", 0) < n:
            raise BenchError(
                f"{name}: after {timeout_s:.0f}s {state['lines']:,} lines and "
                f"{s.calc.counts.get('TP', 0):,} commission.calculated events for {n:,} payments"
            )
        check = await s.db.verify("TP", expected, name)
        if s.calc.counts.get("TP", 0) != n:
            raise BenchError(f"{name}: {s.calc.counts['TP']} events for {n} payments")
        t_events = s.calc.last["TP"]
        elapsed = max(t_lines, t_events) - t0
        rate = n / elapsed
        during = cpu_report(cpu0, cpu1, t_end - t0)
        say(
            f"{name}: {rate:,.0f} payments/s ({n:,} payments; first send -> last line "
            f"{t_lines - t0:.2f}s, -> last commission.calculated {t_events - t0:.2f}s)"
        )
        say("  " + during + "; " + machine_report(m0, m1))
        notes = (
            f"{s.db.label}; commission service as real processes (serve"
            f"{f' + {consumers - 1} consume' if consumers > 1 else ''}), fresh Tansu broker "
            f"(3 partitions); {n:,} PaymentReceived events produced straight to the broker "
            f"(acks=all, keys = {reps:,} salespeople, default flat plan) in "
            f"{t_produced - t0:.2f}s; end = every payment has its line and every "
            f"commission.calculated was consumed back from the broker: lines complete "
            f"{t_lines - t0:.2f}s, events complete {t_events - t0:.2f}s after the first send; "
            f"{check}, one event each; {during} "
            f"(while producing: {cpu_report(cpu0, cpu_p, t_produced - t0)}); "
            f"{machine_report(m0, m1)} (other sessions' work included: shared 2-core box)"
        )
        return Result(name, rate, "payments/s", higher_is_better=True, notes=notes).with_baseline(
            baseline
        )


# --- commission.latency -----------------------------------------------------------------


async def latency(
    var: Path,
    pg_url: str,
    *,
    rate: float,
    duration_s: float,
    reps: int,
    poll_interval_s: float,
    consumers: int,
    drain_timeout_s: float = 300.0,
) -> list[Result]:
    n_total = int(rate * duration_s)
    phase(
        f"commission.latency: open loop at {rate:.0f} payments/s for {duration_s:.0f}s "
        f"({n_total:,} payments) on PostgreSQL, lines polled every {poll_interval_s * 1000:.0f} ms"
    )
    async with commission_stack("postgres", var, pg_url, consumers) as s:
        people = await seed_reps(s, "LP", reps)
        await warm_up(s)
        order = list(people)
        sent: dict[str, float] = {}
        sent_wall: dict[str, float] = {}
        visible_at: dict[str, float] = {}
        calculated: dict[str, float] = {}
        outstanding: set[str] = set()
        lateness: list[float] = []
        polls = {"n": 0}
        finished = asyncio.Event()

        async def poller() -> None:
            while not (finished.is_set() and not outstanding):
                if outstanding:
                    ids = list(outstanding)
                    rows = await s.db.visible(ids)
                    polls["n"] += 1
                    now = time.perf_counter()
                    for pid, calc_at in rows:
                        if pid in outstanding:
                            outstanding.discard(pid)
                            visible_at[pid] = now
                            calculated[pid] = calc_at.timestamp()
                await asyncio.sleep(poll_interval_s)

        def report() -> str:
            return (
                f"sent {len(sent):,}/{n_total:,}, visible {len(visible_at):,}, outstanding "
                f"{len(outstanding):,}, polls {polls['n']:,} ({time.perf_counter() - t0:.1f}s)"
            )

        pids = s.svc.pids()
        cpu0, m0 = cpu_seconds(pids), machine_cpu()
        poll_task = asyncio.create_task(poller())
        sends = []
        t0 = time.perf_counter()
        async with Ticker(report, every=3.0):
            for n in range(n_total):
                target = t0 + n / rate
                delay = target - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                lateness.append(max(0.0, time.perf_counter() - target))
                rep = order[n % len(order)]
                pid = f"LP{n:07d}"
                value = payment_event(pid, people[rep][0], rep, n, s.paid_at)
                sent[pid] = time.perf_counter()
                sent_wall[pid] = time.time()
                outstanding.add(pid)
                sends.append(await s.producer.send(PAYMENTS, value=value, key=rep.encode()))
            await asyncio.gather(*sends)
            finished.set()
            try:
                await asyncio.wait_for(poll_task, drain_timeout_s)
            except TimeoutError as exc:
                raise BenchError(
                    f"commission.latency: {len(outstanding)} lines missing "
                    f"{drain_timeout_s:.0f}s after the last send"
                ) from exc
        t_end = time.perf_counter()
        cpu1, m1 = cpu_seconds(pids), machine_cpu()
        check = await s.db.verify("LP", set(sent), "commission.latency")
        e2e = [(visible_at[p] - sent[p]) * 1000 for p in sent]
        server = [(calculated[p] - sent_wall[p]) * 1000 for p in sent]
        span = max(visible_at.values()) - t0
        done_rate = len(visible_at) / span
        kept = (
            "kept up"
            if done_rate >= 0.95 * rate
            else "did NOT keep up: the latency includes a growing backlog"
        )
        during = cpu_report(cpu0, cpu1, t_end - t0)
        say(
            f"commission.latency: publish -> line committed p50 {percentile(e2e, 50):.1f} ms, "
            f"p99 {percentile(e2e, 99):.1f} ms, max {max(e2e):.1f} ms; calculated_at p50 "
            f"{percentile(server, 50):.1f} ms, p99 {percentile(server, 99):.1f} ms"
        )
        say("  " + during + "; " + machine_report(m0, m1))
        common = (
            f"PostgreSQL; commission service as real processes, fresh Tansu broker; open loop "
            f"{rate:.0f} payment events/s for {duration_s:.0f}s ({len(sent):,} payments over "
            f"{reps} salespeople, produced straight to the broker; send lateness p99 "
            f"{percentile(lateness, 99) * 1000:.1f} ms); latency = just before the send -> the "
            f"line is committed (what the statement endpoint reads), found by polling the "
            f"database for the outstanding payment ids every {poll_interval_s * 1000:.0f} ms "
            f"({polls['n']:,} polls; the poll interval is part of the figure); max "
            f"{max(e2e):.1f} ms; cross-check without polling: send -> the line's calculated_at "
            f"(server clock, same host, before the commit) p50 {percentile(server, 50):.1f} ms, "
            f"p99 {percentile(server, 99):.1f} ms; lines completed at {done_rate:.1f}/s "
            f"({kept}); {check}; {during}; {machine_report(m0, m1)} (other sessions included)"
        )
        return [
            Result("commission.latency_p50_ms", percentile(e2e, 50), "ms", False, notes=common),
            Result("commission.latency_p99_ms", percentile(e2e, 99), "ms", False, notes=common),
        ]


# --- commission.recalc_period_s ---------------------------------------------------------


async def _copy_credits(db: Database, rows: list[tuple]) -> None:
    columns = [
        "credit_id",
        "salesperson_id",
        "period",
        "deal_id",
        "kind",
        "fact_id",
        "amount",
        "basis",
        "share",
        "product_line",
        "occurred_at",
        "deal_closed_at",
    ]
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(
            Credit.__tablename__, records=rows, columns=columns, schema_name=db.schema
        )
        await conn.commit()


async def recalc(var: Path, pg_url: str, *, reps: int, per_rep: int) -> Result:
    from zhanli_commission.commissions.recalc import RecalcReport, recalculate_period
    from zhanli_shared.db import session_factory
    from zhanli_shared.events.outbox import Publisher

    total = reps * per_rep
    phase(
        f"commission.recalc_period_s: one period, {reps:,} salespeople x {per_rep} payments "
        f"({total:,} credits) on PostgreSQL"
    )
    db = Database("postgres", var, pg_url)
    try:
        t = time.perf_counter()
        await asyncio.to_thread(migrate, {**os.environ, **db.env()})
        say(f"schema {db.schema} migrated in {time.perf_counter() - t:.1f}s")
        period = "2026-10"
        ids = [f"RC{i:05d}" for i in range(reps)]
        t = time.perf_counter()
        await db.seed_people(ids)
        base = dt.datetime(2026, 10, 1, 9, 0, tzinfo=TZ)
        rows = []
        for i, rep in enumerate(ids):
            for k in range(per_rep):
                fact = f"RP{i:05d}-{k:03d}"
                amount = Decimal(f"{1000 + (i * 7 + k * 13) % 9000}.{k % 100:02d}")
                rows.append(
                    (
                        f"payment:{fact}:{rep}",
                        rep,
                        period,
                        f"D-{rep}-{k}",
                        "payment",
                        fact,
                        amount,
                        amount,
                        Decimal(100),
                        "ocean_freight",
                        base + dt.timedelta(minutes=k * 397 + i % 60),
                        base - dt.timedelta(days=3),
                    )
                )
        await _copy_credits(db, rows)
        say(
            f"seeded {reps:,} people and {total:,} credits (COPY) in {time.perf_counter() - t:.1f}s"
        )
        settings = db.settings()
        sessions = session_factory(db.engine)
        publisher = Publisher(event_tables, "zhanli/commission")
        last = {"t": time.perf_counter()}

        def progress(r: RecalcReport) -> None:
            if r.done % 100 == 0 or r.done == r.people:
                now = time.perf_counter()
                say(
                    f"  recalc: {r.done:,}/{r.people:,} people, {r.lines_appended:,} lines "
                    f"appended ({now - last['t']:.2f}s since the last report)"
                )
                last["t"] = now

        t, c, m0 = time.perf_counter(), time.process_time(), machine_cpu()
        first = await recalculate_period(sessions, publisher, settings, period, progress=progress)
        first_s = time.perf_counter() - t
        first_cpu, m1 = time.process_time() - c, machine_cpu()
        say(f"first run: {first.summary()} in {first_s:.2f}s (CPU {first_cpu:.2f}s)")
        if first.lines_appended != total or first.failed:
            raise BenchError(
                f"recalc: {first.lines_appended:,} lines for {total:,} credits",
                list(first.failed.items())[:5],
            )
        t, c = time.perf_counter(), time.process_time()
        second = await recalculate_period(sessions, publisher, settings, period)
        second_s = time.perf_counter() - t
        second_cpu = time.process_time() - c
        say(f"second run: {second.summary()} in {second_s:.2f}s (CPU {second_cpu:.2f}s)")
        if second.lines_appended or second.events:
            raise BenchError(f"recalc: the second run appended {second.lines_appended} lines")
        async with db.engine.connect() as conn:
            n_lines = (
                await conn.execute(select(func.count()).where(CommissionLine.period == period))
            ).scalar_one()
        if n_lines != total:
            raise BenchError(f"recalc: {n_lines:,} lines stored for {total:,} credits")
        split = ", ".join(f"{k} {v:.2f}s" for k, v in first.seconds.items())
        split2 = ", ".join(f"{k} {v:.2f}s" for k, v in second.seconds.items())
        notes = (
            f"PostgreSQL; recalculate_period in the bench process (what `python -m "
            f"zhanli_commission recalc --period` runs) over {reps:,} salespeople x {per_rep} "
            f"payment credits = {total:,} credits, default flat plan, seeded by COPY; first "
            f"run appends {first.lines_appended:,} lines + {first.events:,} "
            f"commission.calculated outbox rows in batches of 100 people ({split}; "
            f"load = the people with credits; each batch, one transaction: lock the "
            f"totals, read credits, people, plans, quotas, KPI and stored lines one query "
            f"each, price with the engine, COPY the lines, update the totals, outbox); "
            f"second run appends nothing "
            f"in {second_s:.2f}s ({split2}); {n_lines:,} lines stored, one per credit; "
            f"CPU of the recalculating process: first run {first_cpu:.2f}s, second "
            f"{second_cpu:.2f}s (the rest of the wall time is PostgreSQL and waiting for a "
            f"core); during the first run {machine_report(m0, m1)} (other sessions included)"
        )
        return Result("commission.recalc_period_s", first_s, "s", False, notes=notes)
    finally:
        await db.close()


def pg_available(url: str | None) -> bool:
    if not url:
        return False

    async def ping() -> bool:
        eng = create_engine(url)
        try:
            async with eng.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False
        finally:
            await eng.dispose()

    return asyncio.run(ping())
