"""`make soak`: the whole platform, as real processes on a PostgreSQL cluster of its own,
driven by a steady stream of payments, refunds and cancellations while faults are injected
by killing and restarting the real processes; then every accepted payment is checked.

Modelled on Apache Kafka's transaction system tests (a stream of messages, brokers and
clients bounced after about 20 % progress, then zero duplicates, identical sets, order
kept), anomalies named as Jepsen names them (lost write, duplicate, reordering).

- PostgreSQL: ``initdb`` into a scratch directory, ``pg_ctl`` on a free port (trust, as the
  unprivileged ``postgres`` user when run as root). Never the shared server.
- The platform: ``deploy/embedded/supervisor.py --database-url ... --no-demo --split
  commission`` (commission as ``api``, ``relay`` and ``consume`` processes; the supervisor
  restarts any of them that dies, and the broker).
- The stream: payments half through the gateway (as a finance clerk or an integration
  would post them) and half straight onto the broker as a CRM connector would (keyed by
  salesperson), refunds and deal cancellations through the gateway, at ``--rate`` per s.
- Faults (each ``--rounds`` times, the first after about 20 % of the events, then spread
  to 90 %): broker SIGKILL, commission consumer / relay / API SIGKILL, PostgreSQL
  ``pg_ctl restart -m fast``, a second consumer joining then leaving (rebalance), the same
  broker events delivered again, poison messages among good ones (must reach the
  dead-letter topic).
- Checks: each accepted payment has exactly one commission line (lost write, duplicate),
  per-key order of the connector's events (reordering), nothing unsent or parked in any
  outbox, no consumer lag, period totals equal their lines and a from-scratch
  recalculation appends nothing, the recovery time after each fault (component back ->
  next commission line committed). Exit 1 on any anomaly.

    .venv/bin/python tests/soak/run.py --events 20000 --seed 1
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from zhanli_shared.events.contracts.sales import PaymentReceived
from zhanli_shared.events.envelope import CloudEvent
from zhanli_shared.events.kafka import consumer_options, dead_letter_topic, producer_options
from zhanli_shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("Asia/Shanghai")
PAYMENTS = PaymentReceived.topic_name()
GROUP = "zhanli-commission"
PG_BIN = Path(os.environ.get("ZHANLI_SOAK_PG_BIN", "/usr/local/bin"))
FAULTS = ("broker", "consume", "relay", "api", "postgres", "rebalance", "duplicate", "poison")


def say(msg: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- processes, found by /proc ---------------------------------------------------------


def proc_args(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def proc_env(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return {}
    out = {}
    for item in raw:
        k, _, v = item.decode(errors="replace").partition("=")
        if k:
            out[k] = v
    return out


def find_pids(*needles: bytes, var: Path | None = None) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        args = proc_args(int(entry.name))
        if all(n in args for n in needles):
            if var is not None and proc_env(int(entry.name)).get("ZHANLI_VAR_DIR") != str(var):
                continue
            found.append(int(entry.name))
    return sorted(found)


# --- PostgreSQL of our own --------------------------------------------------------------


class PgCluster:
    def __init__(self, root: Path) -> None:
        self.dir = root / "pgdata"
        self.sock = root / "pgsock"
        self.log = root / "postgres.log"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/soak"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            pwd.getpwnam("postgres")  # postgres refuses to run as root
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *argv: str, timeout: float = 180) -> None:
        done = subprocess.run(
            [*self.as_user, *argv], capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise SystemExit(f"{argv[0]} failed: {done.stdout[-1500:]}{done.stderr[-1500:]}")

    def start(self) -> None:
        for d in (self.dir, self.sock):
            d.mkdir(parents=True, exist_ok=True)
        if self.as_user:
            shutil.chown(self.dir.parent, "postgres")
            for d in (self.dir, self.sock):
                shutil.chown(d, "postgres")
            self.log.touch()
            shutil.chown(self.log, "postgres")
        os.chmod(self.dir, 0o700)
        self._run(str(PG_BIN / "initdb"), "-D", str(self.dir), "-U", "postgres", "--auth=trust")
        self.pg_ctl("start")
        asyncio.run(self._create_db())
        say(f"PostgreSQL of our own on 127.0.0.1:{self.port} ({self.dir})")

    def pg_ctl(self, action: str, *extra: str) -> None:
        opts = (
            f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 "
            "-c max_connections=300 -c fsync=on"
        )
        self._run(
            str(PG_BIN / "pg_ctl"), action, "-D", str(self.dir), "-w", "-t", "120",
            "-l", str(self.log), "-o", opts, *extra,
        )  # fmt: skip

    async def _create_db(self) -> None:
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres")
        try:
            await conn.execute("CREATE DATABASE soak")
        finally:
            await conn.close()

    def restart(self) -> None:
        self.pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        with contextlib.suppress(Exception, SystemExit):
            self._run(str(PG_BIN / "pg_ctl"), "stop", "-D", str(self.dir), "-m", "fast", timeout=60)


# --- the platform -----------------------------------------------------------------------


class Platform:
    def __init__(self, root: Path, pg: PgCluster) -> None:
        self.var = (root / "var").resolve()
        self.log = root / "supervisor.log"
        self.gw = free_port()
        self.broker_port = free_port()
        self.base = f"http://127.0.0.1:{self.gw}"
        self.pg = pg
        self.proc: subprocess.Popen[bytes] | None = None
        self.extra: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        from zhanli_shared.testing.broker import free_port_block

        out = open(self.log, "wb")
        self.proc = subprocess.Popen(
            [
                sys.executable, str(ROOT / "deploy/embedded/supervisor.py"),
                "--var-dir", str(self.var), "--gateway-port", str(self.gw),
                "--port-base", str(free_port_block(12)), "--broker-port", str(self.broker_port),
                "--database-url", self.pg.url, "--no-demo", "--split", "commission",
                "--ready-timeout", "240",
            ],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
        )  # fmt: skip
        out.close()
        deadline = time.monotonic() + 400
        while "Ctrl-C stops everything" not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the platform did not start:\n" + self.tail(40))
            time.sleep(0.5)
        say(f"platform up: gateway {self.base}, broker 127.0.0.1:{self.broker_port}")

    def tail(self, n: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def broker_pid(self) -> int | None:
        pids = find_pids(b"broker", f"tcp://127.0.0.1:{self.broker_port}".encode())
        return pids[0] if pids else None

    def commission_pid(self, mode: str) -> int | None:
        pids = find_pids(b"zhanli_commission", mode.encode(), var=self.var)
        pids = [p for p in pids if p not in {e.pid for e in self.extra}]
        return pids[0] if pids else None

    def admin_password(self) -> str:
        return (self.var / "keys" / "admin-password").read_text().strip()

    def start_extra_consumer(self) -> subprocess.Popen[bytes]:
        pid = self.commission_pid("consume")
        assert pid is not None, "no commission consumer to copy"
        env = proc_env(pid)
        env["ZHANLI_COMMISSION_PORT"] = str(free_port())
        env["ZHANLI_COMMISSION_METRICS_PORT"] = str(free_port())
        log = open(self.var / "log" / "commission-consume-2.log", "ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "zhanli_commission", "consume"],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
        )  # fmt: skip
        log.close()
        self.extra.append(proc)
        return proc

    def stop(self) -> None:
        for p in self.extra:
            if p.poll() is None:
                p.terminate()
                with contextlib.suppress(Exception):
                    p.wait(15)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


# --- the run ----------------------------------------------------------------------------


@dataclass
class Fault:
    kind: str
    at: int  # event index
    injected_at: float = 0.0
    back_at: float = 0.0
    recovered_at: float = 0.0
    detail: str = ""

    @property
    def recovery_s(self) -> float | None:
        if not self.recovered_at or not self.back_at:
            return None
        return max(0.0, self.recovered_at - self.back_at)


@dataclass
class State:
    accepted: dict[str, str] = field(default_factory=dict)  # payment id -> rep
    via: dict[str, str] = field(default_factory=dict)  # payment id -> gateway | broker
    direct: list[tuple[str, str, bytes]] = field(default_factory=list)  # (pid, rep, event)
    resent: set[str] = field(default_factory=set)
    refunds: set[str] = field(default_factory=set)
    cancelled: set[str] = field(default_factory=set)
    refused: dict[str, int] = field(default_factory=dict)
    http_5xx: int = 0
    sent: int = 0
    poison_ids: list[str] = field(default_factory=list)
    poison_dead_lettered: int = 0


class Soak:
    def __init__(self, args: argparse.Namespace, platform: Platform, pg: PgCluster) -> None:
        self.args = args
        self.platform = platform
        self.pg = pg
        self.rng = random.Random(args.seed)
        self.state = State()
        self.tag = f"S{args.seed}{uuid.uuid4().hex[:4].upper()}"
        self.reps = [f"E{self.tag}{i:03d}" for i in range(args.reps)]
        self.deals = {rep: [f"D-{rep}-{k}" for k in range(args.deals_per_rep)] for rep in self.reps}
        self.paid: dict[str, Decimal] = {}  # deal -> collected through the gateway
        self.to_cancel = [f"D-{rep}-X" for rep in self.reps[: max(1, args.reps // 10)]]
        self.settings = ServiceSettings(
            kafka_bootstrap_servers=f"127.0.0.1:{platform.broker_port}",
            kafka_client_id="zhanli-soak-crm",
        )
        self.producer: AIOKafkaProducer | None = None
        self.faults: list[Fault] = []
        self.producer_lock = asyncio.Lock()
        self.now = dt.datetime.now(TZ).replace(microsecond=0)
        self.period = f"{self.now.year:04d}-{self.now.month:02d}"
        self.db: asyncpg.Pool | None = None
        self.last_ok = 0.0  # the last write the gateway accepted

    # -- setup --

    async def token(self, http: httpx.AsyncClient, user: str, password: str) -> str:
        r = await http.post("/api/v1/auth/token", json={"username": user, "password": password})
        r.raise_for_status()
        return str(r.json()["access_token"])

    async def setup(self) -> None:
        self.db = await asyncpg.create_pool(self.pg.url, min_size=1, max_size=3)
        http = httpx.AsyncClient(base_url=self.platform.base, timeout=60)
        tok = await self.token(http, "admin", self.platform.admin_password())
        self.admin = httpx.AsyncClient(
            base_url=self.platform.base, timeout=60, headers={"authorization": f"Bearer {tok}"}
        )
        (
            await self.admin.put(
                "/api/v1/directory/org-units/SOAK",
                json={"org_unit_id": "SOAK", "name": "可靠性测试组 soak team", "kind": "team"},
            )
        ).raise_for_status()
        for rep in self.reps:
            (
                await self.admin.put(
                    f"/api/v1/directory/employees/{rep}",
                    json={
                        "employee_id": rep,
                        "name": f"测试 {rep}",
                        "org_unit_id": "SOAK",
                        "job_role": "salesperson",
                        "roles": ["salesperson"],
                        "status": "active",
                        "hired_on": "2024-03-01",
                    },
                )
            ).raise_for_status()
        crm_user = f"crm-{self.tag.lower()}"
        (
            await self.admin.post(
                "/api/v1/auth/users",
                json={"username": crm_user, "password": "integration-1", "roles": ["integration"]},
            )
        ).raise_for_status()
        tok = await self.token(http, crm_user, "integration-1")
        await http.aclose()
        self.crm = httpx.AsyncClient(
            base_url=self.platform.base,
            timeout=60,
            headers={"authorization": f"Bearer {tok}"},
            limits=httpx.Limits(max_connections=self.args.concurrency),
        )
        closed = (self.now - dt.timedelta(hours=1)).isoformat()
        all_deals = [(d, rep) for rep, ds in self.deals.items() for d in ds]
        all_deals += [(d, d[2:-2]) for d in self.to_cancel]
        deadline = time.monotonic() + 300
        for deal_id, rep in all_deals:
            while True:  # the directory reaches the commission service as an event
                r = await self.crm.post(
                    "/api/v1/commission/deals",
                    json={
                        "deal_id": deal_id,
                        "salesperson_id": rep,
                        "customer_name": "宁波港城物流 Soak Logistics",
                        "amount": "100000000.00",
                        "currency": "CNY",
                        "closed_at": closed,
                        "source": "crm",
                    },
                )
                if r.status_code in (201, 409):
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"deal {deal_id} refused: {r.status_code} {r.text}")
                await asyncio.sleep(0.5)
        say(f"{len(self.reps)} reps, {len(all_deals)} deals set up through the gateway")
        self.producer = AIOKafkaProducer(**producer_options(self.settings))
        await self.producer.start()

    # -- the stream --

    def payment_event(self, pid: str, deal: str, rep: str, amount: Decimal) -> bytes:
        event = PaymentReceived(
            payment_id=pid,
            deal_id=deal,
            salesperson_id=rep,
            amount=amount,
            currency="CNY",
            paid_at=self.now,
            source="crm",
        )
        return CloudEvent(
            source="soak/crm",
            type=PAYMENTS,
            subject=rep,
            time=dt.datetime.now(dt.UTC),
            data=event.model_dump(mode="json"),
        ).to_json()

    async def produce(self, rep: str, value: bytes) -> None:
        assert self.producer is not None
        for attempt in range(600):
            try:
                async with self.producer_lock:
                    fut = await self.producer.send(PAYMENTS, value=value, key=rep.encode())
                await fut
                return
            except Exception as exc:  # the broker is down: a connector retries
                if attempt % 20 == 0:
                    say(f"connector: broker refused ({type(exc).__name__}); retrying")
                await asyncio.sleep(0.5)
        raise SystemExit("the broker did not come back within 5 minutes")

    async def post(self, path: str, body: dict[str, Any], key: str) -> bool:
        """POST until a definite answer: 201 (accepted), 409 (accepted by an earlier try
        whose answer was lost), or a 4xx (refused)."""
        for _attempt in range(240):
            try:
                async with self.sem:
                    r = await self.crm.post(path, json=body)
            except httpx.HTTPError:
                await asyncio.sleep(0.5)
                continue
            if r.status_code in (201, 200, 409):
                self.last_ok = time.monotonic()
                return True
            if r.status_code >= 500:
                self.state.http_5xx += 1
                await asyncio.sleep(0.5)
                continue
            self.state.refused[f"{path} {r.status_code}"] = (
                self.state.refused.get(f"{path} {r.status_code}", 0) + 1
            )
            if len(self.state.refused) < 5:
                say(f"refused {key}: {r.status_code} {r.text[:200]}")
            return False
        return False

    async def one(self, i: int) -> None:
        rng = random.Random(self.args.seed * 1_000_003 + i)
        rep = self.reps[i % len(self.reps)]
        deal = self.deals[rep][(i // len(self.reps)) % len(self.deals[rep])]
        amount = Decimal(f"{100 + i % 900}.{i % 100:02d}")
        roll = rng.random()
        cancel_every = max(1, self.args.events // (len(self.to_cancel) * 3 + 1))
        if i % cancel_every == cancel_every // 2 and self.to_cancel:
            # a cancellable deal: paid once, then cancelled; its paid money refunded
            deal_x = self.to_cancel.pop()
            pid = f"P{self.tag}{i:06d}X"
            if await self.post(
                "/api/v1/commission/payments",
                {"payment_id": pid, "deal_id": deal_x, "amount": "500.00",
                 "currency": "CNY", "paid_at": self.now.isoformat()},
                pid,
            ):  # fmt: skip
                self.state.accepted[pid] = deal_x[2:-2]
                self.state.via[pid] = "gateway"
            if await self.post(
                f"/api/v1/commission/deals/{deal_x}/cancel",
                {"cancelled_at": self.now.isoformat(), "reason": "客户取消 soak"},
                deal_x,
            ):
                self.state.cancelled.add(deal_x)
            return
        if roll < 0.05 and self.paid.get(deal, Decimal(0)) > Decimal("50.00"):
            rid = f"R{self.tag}{i:06d}"
            if await self.post(
                "/api/v1/commission/refunds",
                {"refund_id": rid, "deal_id": deal, "amount": "10.00", "currency": "CNY",
                 "refunded_at": self.now.isoformat()},
                rid,
            ):  # fmt: skip
                self.state.refunds.add(rid)
            return
        pid = f"P{self.tag}{i:06d}"
        if roll < 0.5:
            ok = await self.post(
                "/api/v1/commission/payments",
                {"payment_id": pid, "deal_id": deal, "amount": str(amount),
                 "currency": "CNY", "paid_at": self.now.isoformat()},
                pid,
            )  # fmt: skip
            if ok:
                self.state.accepted[pid] = rep
                self.state.via[pid] = "gateway"
                self.paid[deal] = self.paid.get(deal, Decimal(0)) + amount
        else:
            value = self.payment_event(pid, deal, rep, amount)
            self.state.direct.append((pid, rep, value))
            self.state.accepted[pid] = rep
            self.state.via[pid] = "broker"
            await self.produce(rep, value)

    async def drive(self) -> None:
        n, rate = self.args.events, self.args.rate
        self.sem = asyncio.Semaphore(self.args.concurrency)
        # Events of one rep go in order (the connector's per-key order): one lane per rep.
        lanes: dict[str, asyncio.Lock] = {rep: asyncio.Lock() for rep in self.reps}
        tasks: set[asyncio.Task[None]] = set()
        every: list[asyncio.Task[None]] = []
        t0 = time.monotonic()
        last_report = t0
        self.offered = 0

        async def run_one(i: int) -> None:
            async with lanes[self.reps[i % len(self.reps)]]:
                await self.one(i)
                self.state.sent += 1

        async def fault_runner() -> None:
            """One fault at a time, each once its turn in the stream has come and the one
            before has recovered (as Kafka's system tests bounce one node at a time)."""
            for f in sorted(self.faults, key=lambda f: f.at):
                while self.offered < f.at or await self.lines_count() <= 0:
                    await asyncio.sleep(0.5)
                await self.inject(f)

        faults = asyncio.create_task(fault_runner())
        i = 0
        # The stream goes on past ``n`` until the last fault has recovered: a recovery is
        # the next line committed, so it needs traffic.
        while i < n or not faults.done():
            self.offered = i
            due = t0 + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(run_one(i))
            tasks.add(task)
            every.append(task)
            task.add_done_callback(tasks.discard)
            if time.monotonic() - last_report > 10:
                last_report = time.monotonic()
                lines = await self.lines_count()
                say(
                    f"progress {i:,}/{n:,} offered, {self.state.sent:,} done, "
                    f"{len(self.state.accepted):,} payments accepted, {lines:,} commission lines, "
                    f"5xx {self.state.http_5xx}, faults {sum(1 for f in self.faults if f.injected_at)}"
                )
            i += 1
        self.offered = i
        while tasks:  # the backlog of an open loop that outran the platform
            await asyncio.wait(set(tasks), timeout=10)
            if tasks:
                say(f"draining: {self.state.sent:,}/{i:,} events done")
        await asyncio.gather(*every)
        await faults
        say(f"stream done: {i:,} events offered in {time.monotonic() - t0:.0f}s")

    # -- faults --

    def plan_faults(self) -> None:
        kinds = [k for k in FAULTS if k in self.args.faults] * self.args.rounds
        self.rng.shuffle(kinds)
        n = self.args.events
        first, last = int(n * 0.2), int(n * 0.9)
        step = (last - first) / max(1, len(kinds))
        self.faults = [Fault(k, int(first + j * step)) for j, k in enumerate(kinds)]
        say("faults planned: " + ", ".join(f"{f.kind}@{f.at}" for f in self.faults))

    async def wait_pid(self, find: Any, old: int | None, within: float = 180) -> int | None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            pid = await asyncio.to_thread(find)
            if pid is not None and pid != old:
                return int(pid)
            await asyncio.sleep(0.2)
        return None

    async def inject(self, f: Fault) -> None:
        p = self.platform
        f.injected_at = time.monotonic()
        try:
            if f.kind == "broker":
                old = p.broker_pid()
                assert old, "no broker"
                os.kill(old, signal.SIGKILL)
                new = await self.wait_pid(p.broker_pid, old)
                await self.wait_port(p.broker_port)
                f.back_at = time.monotonic()
                f.detail = f"broker pid {old} SIGKILL -> pid {new}"
                await self.resend_unpriced()
            elif f.kind in ("consume", "relay", "api"):
                old = p.commission_pid(f.kind)
                assert old, f"no commission {f.kind} process"
                os.kill(old, signal.SIGKILL)
                new = await self.wait_pid(lambda: p.commission_pid(f.kind), old)
                f.back_at = time.monotonic()
                f.detail = f"commission {f.kind} pid {old} SIGKILL -> pid {new}"
                if f.kind == "api":  # the gateway path: the first write accepted again
                    deadline = time.monotonic() + 180
                    while self.last_ok < f.back_at and time.monotonic() < deadline:
                        await asyncio.sleep(0.1)
                    f.detail += (
                        f"; the gateway accepted writes again {self.last_ok - f.injected_at:.1f}s "
                        "after the kill"
                    )
            elif f.kind == "postgres":
                await asyncio.to_thread(self.pg.restart)
                f.back_at = time.monotonic()
                f.detail = "pg_ctl restart -m fast"
            elif f.kind == "rebalance":
                extra = p.start_extra_consumer()
                await asyncio.sleep(self.args.rebalance_s)
                extra.terminate()
                await asyncio.to_thread(extra.wait, 30)
                f.back_at = time.monotonic()
                f.detail = f"second consumer pid {extra.pid} joined, left after {self.args.rebalance_s:.0f}s"
            elif f.kind == "duplicate":
                batch = self.state.direct[-200:]
                for pid, rep, value in batch:
                    self.state.resent.add(pid)
                    await self.produce(rep, value)
                f.back_at = time.monotonic()
                f.detail = f"{len(batch)} broker events delivered again"
            elif f.kind == "poison":
                await self.poison(f)
            say(f"fault {f.kind}: {f.detail}")
            await self.wait_recovered(f)
        except Exception as exc:
            f.detail = f"could not inject: {type(exc).__name__}: {exc}"
            say(f"fault {f.kind}: {f.detail}")

    async def wait_port(self, port: int, within: float = 120) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            await asyncio.sleep(0.2)

    async def resend_unpriced(self) -> None:
        """A connector whose broker lost its log sends again what was not yet priced
        (it cannot know what the restarted broker forgot)."""
        priced = await self.priced(set(pid for pid, _, _ in self.state.direct))
        again = [(pid, rep, v) for pid, rep, v in list(self.state.direct) if pid not in priced]
        for pid, rep, value in again:
            self.state.resent.add(pid)
            await self.produce(rep, value)
        say(f"connector: {len(again)} unpriced events sent again after the broker restart")

    async def poison(self, f: Fault) -> None:
        keys = []
        rep = self.reps[0]
        bad = [
            b"{not json",
            CloudEvent(
                source="soak/crm", type=PAYMENTS, subject=rep, time=dt.datetime.now(dt.UTC),
                data={"payment_id": "", "deal_id": 7, "amount": "-1"},
            ).to_json(),
        ]  # fmt: skip
        for value in bad:
            key = f"poison-{uuid.uuid4().hex[:8]}"
            keys.append(key)
            assert self.producer is not None
            async with self.producer_lock:
                fut = await self.producer.send(PAYMENTS, value=value, key=key.encode())
            await fut
        self.state.poison_ids += keys
        f.back_at = time.monotonic()
        # Dead-lettered? Read the dead-letter topic from its start.
        consumer = AIOKafkaConsumer(
            dead_letter_topic(GROUP),
            **consumer_options(self.settings, f"soak-dlq-{uuid.uuid4().hex[:6]}"),
        )
        await consumer.start()
        seen: set[str] = set()
        deadline = time.monotonic() + 90
        try:
            while time.monotonic() < deadline and not set(keys) <= seen:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for rec in records:
                        seen.add((rec.key or b"").decode(errors="replace"))
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
        got = len(set(keys) & seen)
        self.state.poison_dead_lettered += got
        f.detail = (
            f"{len(keys)} poison messages among good ones: {got} on {dead_letter_topic(GROUP)}"
        )

    async def wait_recovered(self, f: Fault, within: float = 180) -> None:
        """Component back -> the next commission line committed after that moment."""
        assert self.db is not None
        since = dt.datetime.fromtimestamp(time.time() - (time.monotonic() - f.back_at), dt.UTC)
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                row = await self.db.fetchval(
                    "SELECT min(calculated_at) FROM zhanli_commission.commission_lines "
                    "WHERE calculated_at > $1",
                    since,
                )
            except Exception:
                row = None
                await self.reconnect()
            if row is not None:
                f.recovered_at = f.back_at + (row - since).total_seconds()
                say(f"fault {f.kind}: commission lines resumed {f.recovery_s:.1f}s after recovery")
                return
            await asyncio.sleep(0.3)

    async def reconnect(self) -> None:
        with contextlib.suppress(Exception):
            assert self.db is not None
            await self.db.expire_connections()

    # -- checks --

    async def lines_count(self) -> int:
        assert self.db is not None
        try:
            return int(
                await self.db.fetchval("SELECT count(*) FROM zhanli_commission.commission_lines")
            )
        except Exception:
            await self.reconnect()
            return -1

    async def priced(self, pids: set[str]) -> dict[str, int]:
        assert self.db is not None
        out: dict[str, int] = {}
        ids = sorted(pids)
        for k in range(0, len(ids), 5000):
            for _attempt in range(30):
                try:
                    rows = await self.db.fetch(
                        "SELECT payment_id, count(*) FROM zhanli_commission.commission_lines "
                        "WHERE payment_id = ANY($1::text[]) AND kind = 'earning' GROUP BY payment_id",
                        ids[k : k + 5000],
                    )
                    break
                except Exception:
                    await self.reconnect()
                    await asyncio.sleep(1)
            else:
                raise SystemExit("the database did not answer")
            out.update({r[0]: int(r[1]) for r in rows})
        return out

    async def settle(self) -> dict[str, int]:
        """Wait until every accepted payment is priced, or nothing moves for a while."""
        want = set(self.state.accepted)
        last, last_move = -1, time.monotonic()
        while True:
            got = await self.priced(want)
            if len(got) >= len(want):
                return got
            if len(got) != last:
                last, last_move = len(got), time.monotonic()
                say(f"settling: {len(got):,}/{len(want):,} payments priced")
            if time.monotonic() - last_move > self.args.settle_s:
                return got
            await asyncio.sleep(2)

    async def outbox_unsent(self) -> dict[str, int]:
        assert self.db is not None
        schemas = [
            r[0]
            for r in await self.db.fetch(
                "SELECT table_schema FROM information_schema.tables WHERE table_name = 'event_outbox'"
            )
        ]
        out = {}
        deadline = time.monotonic() + 120
        for schema in schemas:
            while True:
                n = int(
                    await self.db.fetchval(
                        f'SELECT count(*) FROM "{schema}".event_outbox '
                        "WHERE sent_at IS NULL OR parked_at IS NOT NULL"
                    )
                )
                if n == 0 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(1)
            out[schema] = n
        return out

    async def consumer_lag(self) -> int | None:
        """Records of the payments topic beyond the commission group's committed offsets
        (read with OffsetFetch from a client that never joins the group)."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers,
            group_id=GROUP,
            enable_auto_commit=False,
        )
        try:
            await consumer.start()
            deadline = time.monotonic() + 60
            while True:
                await consumer.topics()
                parts = [
                    TopicPartition(PAYMENTS, p)
                    for p in sorted(consumer.partitions_for_topic(PAYMENTS) or [])
                ]
                ends = await consumer.end_offsets(parts)
                lag = 0
                for tp in parts:
                    committed = await consumer.committed(tp)
                    lag += max(0, ends[tp] - (committed or 0))
                if lag == 0 or time.monotonic() > deadline:
                    return lag
                await asyncio.sleep(1)
        except Exception as exc:
            say(f"consumer lag: not readable ({type(exc).__name__}: {exc})")
            return None
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def reorderings(self) -> tuple[int, int]:
        """The connector's events of one rep were sent in order, one at a time: their
        lines must be committed in that order (events sent again are left out)."""
        assert self.db is not None
        ids = [pid for pid, _, _ in self.state.direct if pid not in self.state.resent]
        rows = await self.db.fetch(
            "SELECT payment_id, calculated_at FROM zhanli_commission.commission_lines "
            "WHERE payment_id = ANY($1::text[]) AND kind = 'earning'",
            ids,
        )
        at = {r[0]: r[1] for r in rows}
        last: dict[str, Any] = {}
        bad = checked = 0
        for pid, rep, _ in self.state.direct:
            if pid not in at or pid in self.state.resent:
                continue
            checked += 1
            if rep in last and at[pid] < last[rep]:
                bad += 1
            last[rep] = max(at[pid], last.get(rep, at[pid]))
        return bad, checked

    async def totals_match(self) -> tuple[int, dict[str, Any]]:
        assert self.db is not None
        wrong = await self.db.fetchval(
            """SELECT count(*) FROM zhanli_commission.commission_period_totals t
               LEFT JOIN (SELECT salesperson_id, period, sum(amount) AS s
                          FROM zhanli_commission.commission_lines GROUP BY 1, 2) l
               USING (salesperson_id, period)
               WHERE t.total <> coalesce(l.s, 0)"""
        )
        r = await self.admin.post(f"/api/v1/commission/periods/{self.period}/recalculate")
        body = r.json() if r.status_code == 200 else {"status": r.status_code, "body": r.text[:300]}
        return int(wrong), body

    async def verify(self) -> dict[str, Any]:
        s = self.state
        got = await self.settle()
        lost = sorted(set(s.accepted) - set(got))
        dup = sorted(p for p, n in got.items() if n > 1)
        bad_order, order_checked = await self.reorderings()
        unsent = await self.outbox_unsent()
        lag = await self.consumer_lag()
        wrong_totals, recalc = await self.totals_match()
        recoveries = {f"{f.kind}@{f.at}": f.recovery_s for f in self.faults}
        report = {
            "seed": self.args.seed,
            "events_offered": self.args.events,
            "payments_accepted": len(s.accepted),
            "via_gateway": sum(1 for v in s.via.values() if v == "gateway"),
            "via_broker": sum(1 for v in s.via.values() if v == "broker"),
            "refunds": len(s.refunds),
            "cancellations": len(s.cancelled),
            "refused": s.refused,
            "http_5xx_retried": s.http_5xx,
            "events_sent_again": len(s.resent),
            "faults": [
                {"kind": f.kind, "at": f.at, "detail": f.detail, "recovery_s": f.recovery_s}
                for f in self.faults
            ],
            "lost_writes": len(lost),
            "lost_examples": lost[:10],
            "duplicates": len(dup),
            "duplicate_examples": dup[:10],
            "reorderings": bad_order,
            "order_checked": order_checked,
            "outbox_unsent_or_parked": unsent,
            "consumer_lag": lag,
            "period_totals_not_matching_lines": wrong_totals,
            "recalculation": recalc,
            "poison_sent": len(s.poison_ids),
            "poison_dead_lettered": s.poison_dead_lettered,
            "recovery_s": recoveries,
            "slowest_recovery_s": max(
                (v for v in recoveries.values() if v is not None), default=None
            ),
        }
        anomalies = []
        if lost:
            anomalies.append(f"lost write x{len(lost)}")
        if dup:
            anomalies.append(f"duplicate x{len(dup)}")
        if bad_order:
            anomalies.append(f"reordering x{bad_order}")
        if any(unsent.values()):
            anomalies.append(f"outbox not drained {unsent}")
        if lag:
            anomalies.append(f"consumer lag {lag}")
        if wrong_totals:
            anomalies.append(f"period totals != lines x{wrong_totals}")
        if recalc.get("lines_appended", 1) != 0 or Decimal(str(recalc.get("delta", "1"))) != 0:
            anomalies.append(f"recalculation appended {recalc}")
        if s.poison_dead_lettered != len(s.poison_ids):
            anomalies.append(
                f"poison not dead-lettered: {len(s.poison_ids) - s.poison_dead_lettered}"
            )
        if any(f.recovery_s is None for f in self.faults):
            anomalies.append("a fault did not recover (or could not be injected)")
        report["anomalies"] = anomalies
        return report

    async def run(self) -> dict[str, Any]:
        await self.setup()
        self.plan_faults()
        try:
            await self.drive()
            return await self.verify()
        finally:
            for c in (self.crm, self.admin):
                await c.aclose()
            if self.producer is not None:
                with contextlib.suppress(Exception):
                    await self.producer.stop()
            if self.db is not None:
                with contextlib.suppress(Exception):
                    await self.db.close()


def soak(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="zhanli-soak-", dir=args.scratch))
    os.chmod(root, 0o755)
    # PostgreSQL's files go where its unprivileged user can reach them (the scratch dir may
    # sit under a directory only root can enter).
    pg_root = Path(tempfile.mkdtemp(prefix="zhanli-soak-pg-"))
    os.chmod(pg_root, 0o755)
    pg = PgCluster(pg_root)
    platform = Platform(root, pg)
    t0 = time.monotonic()
    try:
        pg.start()
        platform.start()
        report = asyncio.run(Soak(args, platform, pg).run())
        report["wall_s"] = round(time.monotonic() - t0, 1)
        report["supervisor_restarts"] = platform.log.read_text(errors="replace").count(
            "restarted (restart #"
        )
        return report
    finally:
        platform.stop()
        pg.stop()
        if args.keep:
            say(f"kept {root} and {pg_root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
            shutil.rmtree(pg_root, ignore_errors=True)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="make soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--seed", type=int, action="append", help="repeatable: one run per seed")
    p.add_argument("--rate", type=float, default=40.0, help="events offered per second")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--reps", type=int, default=40)
    p.add_argument("--deals-per-rep", type=int, default=3)
    p.add_argument("--rounds", type=int, default=1, help="each fault this many times")
    p.add_argument("--faults", default=",".join(FAULTS))
    p.add_argument("--rebalance-s", type=float, default=15.0)
    p.add_argument("--settle-s", type=float, default=180.0)
    p.add_argument("--scratch", default=None)
    p.add_argument("--json", default=None, help="write the report(s) here")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    seeds = args.seed or [1]
    reports = []
    for seed in seeds:
        args.seed = seed
        say(
            f"seed {seed}: {args.events:,} events at {args.rate:g}/s, faults {args.faults} x{args.rounds}"
        )
        report = soak(args)
        reports.append(report)
        print(json.dumps(report, indent=2, ensure_ascii=False, default=str), flush=True)
        say(
            f"seed {seed}: {report['payments_accepted']:,} payments checked, "
            f"lost {report['lost_writes']}, duplicated {report['duplicates']}, "
            f"reordered {report['reorderings']} of {report['order_checked']}, "
            f"slowest recovery {report['slowest_recovery_s']}s; "
            + (
                "ANOMALIES: " + "; ".join(report["anomalies"])
                if report["anomalies"]
                else "no anomaly"
            )
        )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(reports, indent=2, ensure_ascii=False, default=str))
    return 1 if any(r["anomalies"] for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
