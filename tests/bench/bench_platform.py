"""The whole platform under the embedded supervisor, driven through the gateway only.

`Supervisor` starts ``deploy/embedded/supervisor.py`` on free ports and a temporary var
dir and always stops it (SIGINT, then the remembered child processes, which run in their
own sessions, are terminated and killed if they outlive it). `SliceBench` loads a small
bench company through the public API and measures the payment -> commission slice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import os
import re
import secrets
import signal
import subprocess
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
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

from zhanli_shared.money import business_month
from zhanli_shared.testing.broker import free_port

ROOT = Path(__file__).resolve().parents[2]
SUPERVISOR = ROOT / "deploy" / "embedded" / "supervisor.py"
TZ = ZoneInfo("Asia/Shanghai")
# The supervisor's port order (deploy/embedded/supervisor.py SERVICES).
SERVICES = ["talent", "learning", "kpi", "commission", "retention", "people", "audit"]


# --- the supervisor -------------------------------------------------------------------


def _free_block(size: int) -> int:
    """A base port b with b .. b+size-1 all free on 127.0.0.1 (the supervisor wants a run)."""
    import socket

    for _ in range(50):
        base = free_port()
        if base + size >= 65535:
            continue
        socks = []
        try:
            for p in range(base, base + size):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no block of free ports found")


def _die_with_parent() -> None:
    """In the supervisor's child: get SIGTERM (and stop the platform) if the bench dies."""
    import ctypes

    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Supervisor:
    def __init__(self, var_dir: Path, ready_timeout_s: float = 120.0) -> None:
        self.var = var_dir
        self.port_base = _free_block(len(SERVICES) + 1)
        self.gateway_port = self.port_base  # base+1, base+2, ... are the services
        self.broker_port = free_port()
        self.ready_timeout_s = ready_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.remembered: dict[int, int] = {}
        self.ready = threading.Event()
        self.ready_line = ""
        self.lines: list[str] = []
        self._reader: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def service_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port_base + SERVICES.index(name) + 1}"

    def metrics_url(self, name: str) -> str:
        """The process's Prometheus listener (127.0.0.1, a port of its own: the supervisor
        writes them to <var>/metrics-ports.json); the API ports answer 404 for /metrics."""
        ports = json.loads((self.var / "metrics-ports.json").read_text())
        return f"http://127.0.0.1:{ports[name]}/metrics"

    def admin_password(self) -> str:
        return (self.var / "keys" / "admin-password").read_text().strip()

    def start(self) -> None:
        argv = [
            python(),
            str(SUPERVISOR),
            "--var-dir",
            str(self.var),
            "--port-base",
            str(self.port_base),
            "--gateway-port",
            str(self.gateway_port),
            "--broker-port",
            str(self.broker_port),
            "--no-demo",
            "--ready-timeout",
            str(self.ready_timeout_s),
        ]
        say(
            f"starting the supervisor: gateway 127.0.0.1:{self.gateway_port}, services "
            f"{self.port_base + 1}..{self.port_base + len(SERVICES)}, broker {self.broker_port}, var {self.var}"
        )
        env = {
            k: v
            for k, v in os.environ.items()
            if not (k.startswith("ZHANLI_") and k != "ZHANLI_HOME")
        }
        env["PYTHONUNBUFFERED"] = "1"
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            if "platform ready" in line:
                self.ready_line = line
                self.ready.set()
            if not self.ready.is_set() or "exited" in line or "restart" in line:
                say(f"  supervisor| {line}")

    def remember_children(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.remembered.update(descendants(self.proc.pid))

    def wait_ready(self) -> float:
        started = time.monotonic()
        next_note = started + 5
        while not self.ready.wait(0.5):
            self.remember_children()
            if time.monotonic() >= next_note:
                next_note += 5
                say(
                    f"  waiting for the platform: {time.monotonic() - started:.0f}s, "
                    f"{len(self.remembered)} processes started"
                )
            if self.proc is not None and self.proc.poll() is not None:
                raise BenchError(
                    f"the supervisor exited with code {self.proc.returncode} before "
                    "the platform was ready",
                    self.lines[-20:],
                )
            if time.monotonic() - started > self.ready_timeout_s + 30:
                raise BenchError("the platform was not ready in time", self.lines[-20:])
        self.remember_children()
        return time.monotonic() - started

    def pids(self) -> dict[str, int]:
        """Process name (gateway, commission, ..., broker) -> pid, for CPU accounting."""
        self.remember_children()
        out: dict[str, int] = {}
        for pid in self.remembered:
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            text = " ".join(c.decode(errors="replace") for c in cmd)
            m = re.search(r"-m zhanli_(\w+) serve", text)
            if m:
                out[m.group(1)] = pid
            elif "tansu" in text and "broker" in text:
                out["broker"] = pid
        if self.proc is not None:
            out["supervisor"] = self.proc.pid
        return out

    def stop(self) -> None:
        if self.proc is None:
            return
        self.remember_children()
        if self.proc.poll() is None:
            say("stopping the supervisor (SIGINT)")
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(45)
            except subprocess.TimeoutExpired:
                say("the supervisor did not stop in 45s: killing its process group")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        left = kill_remembered(self.remembered)
        if left:
            say(f"terminated {len(left)} platform processes left behind: {left}")
        say(f"supervisor stopped (exit code {self.proc.returncode})")
        self.proc = None


# --- CPU accounting ---------------------------------------------------------------------


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for name, pid in {**pids, "bench-client": os.getpid()}.items():
        try:
            raw = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        rest = raw[raw.rfind(")") + 2 :].split()
        out[name] = (int(rest[11]) + int(rest[12])) / tick  # utime + stime
    return out


def cpu_report(before: dict[str, float], after: dict[str, float], wall_s: float) -> str:
    used = {k: after[k] - before.get(k, 0.0) for k in after}
    parts = [
        f"{k} {v / wall_s * 100:.0f}%"
        for k, v in sorted(used.items(), key=lambda kv: -kv[1])
        if v / wall_s >= 0.02
    ]
    total = sum(used.values()) / wall_s * 100
    return (
        f"CPU over {wall_s:.1f}s (100% = one core, 200% = this box): "
        + ", ".join(parts)
        + f"; total {total:.0f}%"
    )


# --- the HTTP side ----------------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path} -> {status}: {body[:300]}")
        self.status = status


class Api:
    def __init__(self, base_url: str, limit: int = 128) -> None:
        self.base_url = base_url
        self.session = aiohttp.ClientSession(
            base_url=base_url,
            connector=aiohttp.TCPConnector(limit=limit, limit_per_host=0, force_close=False),
            timeout=aiohttp.ClientTimeout(total=60),
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close(self) -> None:
        await self.session.close()

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: object | None = None,
        params: dict[str, str] | None = None,
        expect: tuple[int, ...] = (200, 201),
    ) -> tuple[int, object]:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(
            method, path, json=json, params=params, headers=headers
        ) as resp:
            if resp.status not in expect:
                raise ApiError(method, path, resp.status, await resp.text())
            if resp.content_type.endswith("json"):
                return resp.status, await resp.json()
            return resp.status, await resp.read()

    async def login(self, username: str, password: str) -> str:
        _, body = await self.call(
            "POST", "/api/v1/auth/token", json={"username": username, "password": password}
        )
        assert isinstance(body, dict)
        return str(body["access_token"])


async def gather_limited(n: int, coros: list) -> list:  # type: ignore[type-arg]
    sem = asyncio.Semaphore(n)

    async def one(c):  # type: ignore[no-untyped-def]
        async with sem:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


# --- the slice benchmark ----------------------------------------------------------------


@dataclass
class Person:
    employee_id: str
    deals: list[str] = field(default_factory=list)


@dataclass
class Company:
    period: str
    paid_at: str
    throughput_people: list[Person]
    latency_people: list[Person]


class SliceBench:
    def __init__(
        self, sup: Supervisor, *, throughput_people: int = 40, latency_people: int = 100
    ) -> None:
        self.sup = sup
        self.api = Api(sup.base_url)
        self.n_tp = throughput_people
        self.n_lp = latency_people
        self.admin = ""
        self.integration = ""
        self.company: Company | None = None

    async def close(self) -> None:
        await self.api.close()

    # -- setup --

    async def setup(self) -> Company:
        phase("slice setup: org units, salespeople, an integration user, deals (via the gateway)")
        api = self.api
        self.admin = await api.login("admin", self.sup.admin_password())
        now = dt.datetime.now(TZ)
        # every bench payment is paid at the same moment, so all lines fall in one period
        paid_at = (now - dt.timedelta(minutes=1)).replace(microsecond=0)
        period = business_month(paid_at, "Asia/Shanghai")
        for unit in (
            {
                "org_unit_id": "BENCH",
                "name": "Bench Group",
                "kind": "group",
                "parent_id": None,
                "manager_id": None,
            },
            {
                "org_unit_id": "BENCH-T1",
                "name": "Bench Sales Team",
                "kind": "team",
                "parent_id": "BENCH",
                "manager_id": None,
            },
        ):
            await api.call(
                "PUT",
                f"/api/v1/directory/org-units/{unit['org_unit_id']}",
                token=self.admin,
                json=unit,
            )
        tp = [Person(f"BT{i:04d}") for i in range(1, self.n_tp + 1)]
        lp = [Person(f"BL{i:04d}") for i in range(1, self.n_lp + 1)]
        t = time.perf_counter()
        await gather_limited(
            8,
            [
                api.call(
                    "PUT",
                    f"/api/v1/directory/employees/{p.employee_id}",
                    token=self.admin,
                    json={
                        "employee_id": p.employee_id,
                        "name": f"Bench {p.employee_id}",
                        "org_unit_id": "BENCH-T1",
                        "manager_id": None,
                        "job_role": "salesperson",
                        "roles": ["salesperson"],
                        "status": "active",
                        "hired_on": "2024-03-01",
                    },
                )
                for p in tp + lp
            ],
        )
        say(
            f"{len(tp) + len(lp)} salespeople written to the directory in "
            f"{time.perf_counter() - t:.1f}s"
        )
        password = secrets.token_urlsafe(12)
        await api.call(
            "POST",
            "/api/v1/auth/users",
            token=self.admin,
            json={"username": "bench-integration", "password": password, "roles": ["integration"]},
        )
        self.integration = await api.login("bench-integration", password)
        t = time.perf_counter()
        pending = {p.employee_id for p in tp + lp}
        deadline = time.monotonic() + 60
        while pending:
            if time.monotonic() > deadline:
                raise BenchError(f"{len(pending)} people never reached the commission service")
            statuses = await gather_limited(
                8,
                [
                    api.call(
                        "GET",
                        f"/api/v1/commission/people/{eid}/statement",
                        token=self.admin,
                        expect=(200, 404),
                    )
                    for eid in sorted(pending)
                ],
            )
            pending = {
                eid
                for eid, (status, _) in zip(sorted(pending), statuses, strict=True)
                if status != 200
            }
            if pending:
                await asyncio.sleep(0.2)
        say(
            f"the commission service knows all {len(tp) + len(lp)} people "
            f"({time.perf_counter() - t:.1f}s after the last directory write)"
        )
        closed_at = (now - dt.timedelta(days=1)).isoformat()
        deals = []
        for people, per in ((tp, 2), (lp, 1)):
            for p in people:
                for k in range(per):
                    deal_id = f"D-{p.employee_id}-{k}"
                    p.deals.append(deal_id)
                    deals.append(
                        {
                            "deal_id": deal_id,
                            "salesperson_id": p.employee_id,
                            "customer_name": "Bench Customer Co.",
                            "amount": "100000000.00",
                            "currency": "CNY",
                            "product_line": "ocean_freight",
                            "closed_at": closed_at,
                            "source": "crm",
                        }
                    )
        t = time.perf_counter()
        await gather_limited(
            8,
            [
                api.call("POST", "/api/v1/commission/deals", token=self.integration, json=d)
                for d in deals
            ],
        )
        say(f"{len(deals)} deals recorded in {time.perf_counter() - t:.1f}s; period {period}")
        self.company = Company(period, paid_at.isoformat(), tp, lp)
        return self.company

    # -- helpers --

    def _payment(self, payment_id: str, deal_id: str, n: int) -> dict[str, str]:
        assert self.company is not None
        return {
            "payment_id": payment_id,
            "deal_id": deal_id,
            "amount": f"{100 + n % 900}.{n % 100:02d}",
            "currency": "CNY",
            "paid_at": self.company.paid_at,
            "source": "finance",
        }

    async def statement(self, employee_id: str) -> list[dict[str, str]]:
        assert self.company is not None
        _, body = await self.api.call(
            "GET",
            f"/api/v1/commission/people/{employee_id}/statement",
            token=self.admin,
            params={"period": self.company.period},
        )
        assert isinstance(body, dict)
        return list(body["lines"])

    async def statement_ids(self, employee_id: str) -> list[str]:
        return [line["payment_id"] for line in await self.statement(employee_id)]

    async def quiesce(self, max_s: float = 15.0, below: float = 0.25) -> None:
        """Wait until the platform's processes are idle (the KPI consumer, relays... catch up)."""
        pids = self.sup.pids()
        pids.pop("supervisor", None)
        t = time.perf_counter()
        busy = 0.0
        while time.perf_counter() - t < max_s:
            c0 = cpu_seconds(pids)
            await asyncio.sleep(0.5)
            c1 = cpu_seconds(pids)
            busy = sum(c1[k] - c0.get(k, 0) for k in c1 if k != "bench-client") / 0.5
            if busy < below:
                break
        say(
            f"platform quiet after {time.perf_counter() - t:.1f}s (platform CPU {busy * 100:.0f}% "
            "of one core)"
        )

    async def verify(self, people: list[Person], accepted: dict[str, set[str]], label: str) -> str:
        """Every accepted payment has exactly one commission line, and no other line exists."""
        ids = await gather_limited(8, [self.statement_ids(p.employee_id) for p in people])
        problems = []
        lines = 0
        for p, got in zip(people, ids, strict=True):
            lines += len(got)
            want = accepted.get(p.employee_id, set())
            counts: dict[str, int] = defaultdict(int)
            for pid in got:
                counts[pid] += 1
            dupes = sorted(pid for pid, c in counts.items() if c > 1)
            missing = sorted(want - counts.keys())
            extra = sorted(counts.keys() - want)
            if dupes or missing or extra:
                problems.append(
                    f"{p.employee_id}: {len(missing)} missing {missing[:3]}, "
                    f"{len(dupes)} duplicated {dupes[:3]}, {len(extra)} unexpected "
                    f"{extra[:3]}"
                )
        expected = sum(len(v) for v in accepted.values())
        if problems:
            raise BenchError(
                f"{label}: commission lines do not match the payments accepted "
                f"({lines} lines for {expected} payments)",
                problems[:10],
            )
        say(f"{label}: verified {expected} payments -> {lines} commission lines, one each")
        return f"verified: {expected} payments -> exactly one commission line each"

    async def commission_metrics(self) -> dict[str, float]:
        """Counters of the commission service (read directly from it, diagnostics only)."""
        out: dict[str, float] = defaultdict(float)
        try:
            async with self.api.session.get(
                self.sup.metrics_url("commission"),
                timeout=aiohttp.ClientTimeout(total=5),
            ) as resp:
                text = await resp.text()
        except Exception:
            return out
        for line in text.splitlines():
            if line.startswith("zhanli_events_consumed_total{") and 'outcome="applied"' in line:
                m = re.search(r'type="([^"]+)"', line)
                out["consumed:" + (m.group(1) if m else "?")] += float(line.rsplit(" ", 1)[1])
            elif line.startswith("zhanli_events_published_total{"):
                out["published"] += float(line.rsplit(" ", 1)[1])
        return out

    # -- slice.throughput --

    async def throughput(
        self,
        *,
        concurrency: int,
        duration_s: float,
        max_payments: int,
        drain_timeout_s: float,
        baseline: Result | None,
        sweep_every_s: float = 2.0,
    ) -> Result:
        assert self.company is not None
        phase(
            f"slice.throughput: payments through the gateway, concurrency {concurrency}, "
            f"up to {duration_s:.0f}s or {max_payments:,} payments"
        )
        people = self.company.throughput_people
        deal_owner = {d: p.employee_id for p in people for d in p.deals}
        deals = [d for p in people for d in p.deals]
        # round-robin over the people first, then their deals: consecutive payments differ
        order = [p.deals[k] for k in range(2) for p in people]
        assert sorted(order) == sorted(deals)
        accepted: dict[str, set[str]] = defaultdict(set)
        errors: list[str] = []
        post_lat: list[float] = []
        counter = itertools.count()
        state = {"posted": 0, "visible": 0}
        pids = self.sup.pids()
        cpu0 = cpu_seconds(pids)
        m0 = await self.commission_metrics()
        t0 = time.perf_counter()
        stop_at = t0 + duration_s

        async def worker() -> None:
            while time.perf_counter() < stop_at:
                n = next(counter)
                if n >= max_payments:
                    return
                deal = order[n % len(order)]
                pid = f"TP{n:07d}"
                ts = time.perf_counter()
                try:
                    await self.api.call(
                        "POST",
                        "/api/v1/commission/payments",
                        token=self.integration,
                        json=self._payment(pid, deal, n),
                        expect=(201,),
                    )
                except Exception as exc:
                    errors.append(f"{pid}: {exc}")
                    if len(errors) > 50:
                        raise BenchError(
                            "slice.throughput: too many failed posts", errors[:10]
                        ) from exc
                    continue
                post_lat.append(time.perf_counter() - ts)
                accepted[deal_owner[deal]].add(pid)
                state["posted"] += 1

        def report() -> str:
            el = time.perf_counter() - t0
            return (
                f"posted {state['posted']:,} ({state['posted'] / el:,.0f}/s), "
                f"commission lines visible {state['visible']:,}, errors {len(errors)}, "
                f"{el:.1f}s"
            )

        async with Ticker(report, every=3.0):
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            t_posted = time.perf_counter()
            cpu_post = cpu_seconds(pids)
            m_post = await self.commission_metrics()
            total = state["posted"]
            say(
                f"posting done: {total:,} payments accepted in {t_posted - t0:.2f}s "
                f"({total / (t_posted - t0):,.0f}/s); waiting for their commission lines"
            )
            # Poll the statements of people whose lines are not all visible yet. Sweeping
            # every statement through the gateway costs the commission service about as much
            # as the work it is draining, so sweeps run every `sweep_every_s`, or at once when
            # the commission consumer's own counter (read from its /metrics, a hint only)
            # says it has applied every payment; the figure's end is the sweep that saw the
            # last line.
            incomplete = {p.employee_id for p in people if accepted.get(p.employee_id)}
            visible: dict[str, int] = {}
            t_last = t_posted
            deadline = t_posted + drain_timeout_s
            sweeps = 0
            next_sweep = 0.0
            while incomplete and time.perf_counter() < deadline:
                m = await self.commission_metrics()
                applied = sum(
                    v - m0.get(k, 0)
                    for k, v in m.items()
                    if k.startswith("consumed:") and "payment" in k
                )
                now = time.perf_counter()
                if applied < total and now < next_sweep:
                    await asyncio.sleep(0.05)
                    continue
                ids = sorted(incomplete)
                got = await gather_limited(4, [self.statement_ids(e) for e in ids])
                sweeps += 1
                now = time.perf_counter()
                next_sweep = now + sweep_every_s
                for eid, lines in zip(ids, got, strict=True):
                    visible[eid] = len(set(lines) & accepted[eid])
                    if visible[eid] >= len(accepted[eid]):
                        incomplete.discard(eid)
                        t_last = now
                state["visible"] = sum(visible.values())
                if incomplete and applied >= total:
                    await asyncio.sleep(0.05)
        t_end = time.perf_counter()
        cpu1 = cpu_seconds(pids)
        if incomplete:
            raise BenchError(
                f"slice.throughput: {total - state['visible']} of {total} "
                f"commission lines still missing {drain_timeout_s:.0f}s after "
                "the last post"
            )
        if errors:
            raise BenchError(f"slice.throughput: {len(errors)} payments were refused", errors[:10])
        check = await self.verify(people, accepted, "slice.throughput")
        elapsed = t_last - t0
        rate = total / elapsed
        say(
            f"slice.throughput: {rate:,.1f} payments/s ({total:,} payments, first post -> last "
            f"commission visible {elapsed:.2f}s; drain after the last post "
            f"{t_last - t_posted:.2f}s)"
        )
        cpu_post_txt = cpu_report(cpu0, cpu_post, t_posted - t0)
        cpu_drain_txt = cpu_report(cpu_post, cpu1, max(t_end - t_posted, 0.01))
        consumed_post = sum(v - m0.get(k, 0) for k, v in m_post.items() if k.startswith("consumed"))
        say("  while posting: " + cpu_post_txt)
        say(
            f"  commission consumer applied {consumed_post:,.0f} events while "
            f"{total:,} payments were posted (lag at end of posting "
            f"{total - consumed_post:,.0f})"
        )
        say("  while draining: " + cpu_drain_txt)
        notes = (
            f"sqlite (embedded default); {total:,} payments via the gateway, concurrency "
            f"{concurrency}, {len(people)} salespeople x 2 deals; posting "
            f"{t_posted - t0:.1f}s ({total / (t_posted - t0):,.0f}/s accepted, POST p50 "
            f"{percentile(post_lat, 50) * 1000:.0f} ms, p99 "
            f"{percentile(post_lat, 99) * 1000:.0f} ms), last commission visible "
            f"{t_last - t_posted:.2f}s after the last 201 ({sweeps} statement sweeps "
            f"while draining); {check}; while posting: {cpu_post_txt}; while draining: "
            f"{cpu_drain_txt}"
        )
        return Result(
            "slice.throughput", rate, "payments/s", higher_is_better=True, notes=notes
        ).with_baseline(baseline)

    # -- slice.latency --

    async def latency(
        self,
        *,
        rate: float,
        duration_s: float,
        poll_interval_s: float,
        poll_concurrency: int,
        drain_timeout_s: float,
    ) -> list[Result]:
        assert self.company is not None
        n_total = int(rate * duration_s)
        phase(
            f"slice.latency: open loop at {rate:.0f} payments/s for {duration_s:.0f}s "
            f"({n_total:,} payments), statements polled every {poll_interval_s * 1000:.0f} ms"
        )
        people = self.company.latency_people
        sent: dict[str, float] = {}
        accepted_at: dict[str, float] = {}
        accepted_wall: dict[str, float] = {}
        calculated_wall: dict[str, float] = {}
        visible_at: dict[str, float] = {}
        accepted: dict[str, set[str]] = defaultdict(set)
        outstanding: dict[str, set[str]] = defaultdict(set)
        wake: dict[str, asyncio.Event] = {p.employee_id: asyncio.Event() for p in people}
        errors: list[str] = []
        lateness: list[float] = []
        polls = {"n": 0}
        poll_sem = asyncio.Semaphore(poll_concurrency)
        finished = asyncio.Event()
        in_flight = {"n": 0, "max": 0}

        async def send(n: int) -> None:
            person = people[n % len(people)]
            pid = f"LP{n:07d}"
            in_flight["n"] += 1
            in_flight["max"] = max(in_flight["max"], in_flight["n"])
            sent[pid] = time.perf_counter()
            try:
                await self.api.call(
                    "POST",
                    "/api/v1/commission/payments",
                    token=self.integration,
                    json=self._payment(pid, person.deals[0], n),
                    expect=(201,),
                )
            except Exception as exc:
                errors.append(f"{pid}: {exc}")
                return
            finally:
                in_flight["n"] -= 1
            accepted_at[pid] = time.perf_counter()
            accepted_wall[pid] = time.time()
            accepted[person.employee_id].add(pid)
            outstanding[person.employee_id].add(pid)
            wake[person.employee_id].set()

        async def poller(eid: str) -> None:
            while True:
                if not outstanding[eid]:
                    wake[eid].clear()
                    if finished.is_set():
                        return
                    waiter = asyncio.create_task(wake[eid].wait())
                    fin = asyncio.create_task(finished.wait())
                    await asyncio.wait({waiter, fin}, return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                    fin.cancel()
                    continue
                async with poll_sem:
                    lines = await self.statement(eid)
                polls["n"] += 1
                now = time.perf_counter()
                for line in lines:
                    pid = line["payment_id"]
                    if pid in outstanding[eid]:
                        visible_at[pid] = now
                        calculated_wall[pid] = dt.datetime.fromisoformat(
                            line["calculated_at"].replace("Z", "+00:00")
                        ).timestamp()
                        outstanding[eid].discard(pid)
                if outstanding[eid]:
                    await asyncio.sleep(poll_interval_s)

        def report() -> str:
            el = time.perf_counter() - t0
            return (
                f"sent {len(sent):,}/{n_total:,}, accepted {len(accepted_at):,}, commission "
                f"visible {len(visible_at):,}, in flight {in_flight['n']}, polls "
                f"{polls['n']:,}, errors {len(errors)}, {el:.1f}s"
            )

        pids = self.sup.pids()
        cpu0 = cpu_seconds(pids)
        pollers = [asyncio.create_task(poller(p.employee_id)) for p in people]
        t0 = time.perf_counter()
        async with Ticker(report, every=3.0):
            sends = []
            for n in range(n_total):
                target = t0 + n / rate
                delay = target - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                lateness.append(max(0.0, time.perf_counter() - target))
                sends.append(asyncio.create_task(send(n)))
            await asyncio.gather(*sends)
            t_sent = time.perf_counter()
            deadline = t_sent + drain_timeout_s
            while any(outstanding.values()) and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
            finished.set()
            for w in wake.values():
                w.set()
            await asyncio.gather(*pollers, return_exceptions=True)
        t_end = time.perf_counter()
        cpu1 = cpu_seconds(pids)
        missing = sum(len(v) for v in outstanding.values())
        if missing:
            raise BenchError(
                f"slice.latency: {missing} commission lines still missing "
                f"{drain_timeout_s:.0f}s after the last payment"
            )
        if errors:
            raise BenchError(f"slice.latency: {len(errors)} payments were refused", errors[:10])
        check = await self.verify(people, accepted, "slice.latency")
        e2e = [(visible_at[p] - accepted_at[p]) * 1000 for p in accepted_at]
        post = [(accepted_at[p] - sent[p]) * 1000 for p in accepted_at]
        total = [(visible_at[p] - sent[p]) * 1000 for p in accepted_at]
        server = [(calculated_wall[p] - accepted_wall[p]) * 1000 for p in accepted_at]
        span = max(visible_at.values()) - t0
        done_rate = len(visible_at) / span
        kept = (
            "kept up"
            if done_rate >= 0.95 * rate
            else "did NOT keep up: the latency includes a growing backlog"
        )
        cpu_txt = cpu_report(cpu0, cpu1, t_end - t0)
        say(
            f"slice.latency: 201 -> commission visible p50 {percentile(e2e, 50):.1f} ms, p99 "
            f"{percentile(e2e, 99):.1f} ms, max {max(e2e):.1f} ms; send -> 201 p50 "
            f"{percentile(post, 50):.1f} ms, p99 {percentile(post, 99):.1f} ms"
        )
        say("  " + cpu_txt)
        common = (
            f"sqlite (embedded default); open loop {rate:.0f}/s for {duration_s:.0f}s "
            f"({len(accepted_at):,} payments over {len(people)} salespeople; send lateness "
            f"p99 {percentile(lateness, 99) * 1000:.1f} ms, max in flight "
            f"{in_flight['max']}); latency = 201 received -> the line is in the person's "
            f"statement via the gateway (poller per person with outstanding payments, "
            f"{poll_interval_s * 1000:.0f} ms between polls, <= {poll_concurrency} polls in "
            f"flight, {polls['n']:,} polls; time of the poll response); send -> 201 p50 "
            f"{percentile(post, 50):.1f} ms, p99 {percentile(post, 99):.1f} ms; send -> "
            f"visible p50 {percentile(total, 50):.1f} ms, p99 {percentile(total, 99):.1f} "
            f"ms; max {max(e2e):.1f} ms; cross-check without polling: 201 -> the line's "
            f"calculated_at (server clock, same host) p50 {percentile(server, 50):.1f} ms, "
            f"p99 {percentile(server, 99):.1f} ms; lines completed at {done_rate:.1f}/s "
            f"over the run ({kept}); {check}; {cpu_txt}"
        )
        return [
            Result(
                "slice.latency_p50_ms",
                percentile(e2e, 50),
                "ms",
                higher_is_better=False,
                notes=common,
            ),
            Result(
                "slice.latency_p99_ms",
                percentile(e2e, 99),
                "ms",
                higher_is_better=False,
                notes=common,
            ),
        ]
