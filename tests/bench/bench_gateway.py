"""The gateway's overhead: one cheap authenticated GET, called directly and through the gateway.

`GatewayBench` uses a running embedded platform (`bench_platform.Supervisor`): it creates
one org unit, one salesperson, an integration user and one deal (through the gateway),
then measures ``GET /api/v1/commission/deals/{id}`` (token check, one SQLite read, a
pydantic response) against the commission service directly and through the gateway, with
the same bearer token, alternating direct, gateway, direct, gateway and keeping the better
run of each. The load comes from a separate process (this file with ``--client``): an
asyncio + aiohttp closed loop with N keep-alive connections, each sending its next request
when the previous answer is read, so the client never shares the gateway's event loop.

Figures: gateway.direct_throughput (requests/s, the baseline), gateway.throughput
(requests/s through the gateway, ratio to the baseline), both closed loop; then
gateway.p99_added_ms from an open loop (``bench_load.py --rate``) at half the direct
capacity, direct and through the gateway alternated, the gateway pinned to core 0 and the
commission service to core 1, the load process unpinned: p99 through the gateway minus p99
direct, of the quieter run of each (p50 and p99.9 added in the notes). A closed loop
saturates both sides, so its p99 difference swung by tens of ms from run to run. Notes
carry p50s, p99s, every run and the CPU split between client, gateway and service.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_common import BenchError, Result, percentile, phase, python, say

THIS = Path(__file__).resolve()


# --- the load client (a separate process) -------------------------------------------------


async def _client(url: str, token: str, concurrency: int, duration_s: float, warmup_s: float):  # type: ignore[no-untyped-def]
    import aiohttp

    headers = {"authorization": f"Bearer {token}"}
    lat: list[float] = []
    bad: dict[str, int] = {}
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=0, keepalive_timeout=60)
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=30),
        cookie_jar=aiohttp.DummyCookieJar(),
    ) as session:
        # open every connection before the clock starts
        async def one() -> None:
            async with session.get(url, headers=headers) as r:
                await r.read()

        await asyncio.gather(*(one() for _ in range(concurrency)))
        t0 = time.perf_counter()
        t_measure = t0 + warmup_s
        t_end = t_measure + duration_s
        marks: dict[str, float] = {}

        async def marker() -> None:
            await asyncio.sleep(max(0.0, t_measure - time.perf_counter()))
            marks["cpu0"] = time.process_time()
            print("MEASURE", flush=True)
            await asyncio.sleep(max(0.0, t_end - time.perf_counter()))
            marks["cpu1"] = time.process_time()
            print("END", flush=True)

        async def worker() -> None:
            perf = time.perf_counter
            while True:
                ts = perf()
                if ts >= t_end:
                    return
                try:
                    async with session.get(url, headers=headers) as r:
                        await r.read()
                        status = r.status
                except Exception as exc:  # counted, the run goes on
                    status = type(exc).__name__  # type: ignore[assignment]
                te = perf()
                if t_measure <= ts and te <= t_end:
                    if status == 200:
                        lat.append(te - ts)
                    else:
                        bad[str(status)] = bad.get(str(status), 0) + 1

        mark = asyncio.create_task(marker())
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        await mark
    return {
        "count": len(lat),
        "duration_s": duration_s,
        "p50_ms": percentile(lat, 50) * 1000 if lat else None,
        "p90_ms": percentile(lat, 90) * 1000 if lat else None,
        "p99_ms": percentile(lat, 99) * 1000 if lat else None,
        "max_ms": max(lat) * 1000 if lat else None,
        "errors": bad,
        "client_cpu_s": marks.get("cpu1", 0.0) - marks.get("cpu0", 0.0),
    }


def client_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="bench_gateway.py --client")
    p.add_argument("--client", action="store_true")
    p.add_argument("--url", required=True)
    p.add_argument("--token-file", required=True)
    p.add_argument("--concurrency", type=int, default=32)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=2.0)
    a = p.parse_args(argv)
    token = Path(a.token_file).read_text().strip()
    coro = _client(a.url, token, a.concurrency, a.duration, a.warmup)
    try:
        import uvloop

        out = uvloop.run(coro)
    except ImportError:
        out = asyncio.run(coro)
    print("RESULT " + json.dumps(out), flush=True)
    return 0


# --- the driver ---------------------------------------------------------------------------


def _cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for name, pid in pids.items():
        try:
            raw = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        rest = raw[raw.rfind(")") + 2 :].split()
        out[name] = (int(rest[11]) + int(rest[12])) / tick  # utime + stime
    return out


def _machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy (all cores, /proc/stat), to show noise."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(x) for x in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    path: str  # "direct" | "gateway"
    rps: float
    p50_ms: float
    p99_ms: float
    count: int
    errors: dict[str, int]
    cpu: dict[str, float] = field(default_factory=dict)  # share of one core

    def cpu_text(self) -> str:
        return ", ".join(f"{k} {v * 100:.0f}%" for k, v in self.cpu.items())

    def text(self) -> str:
        # The gateway's CPU per proxied request (its idle share included): steadier than
        # the throughputs when the machine is shared.
        per = (
            f", gateway {self.cpu['gateway'] / self.rps * 1e6:,.0f} us CPU per request"
            if self.path == "gateway" and self.rps and "gateway" in self.cpu
            else ""
        )
        return (
            f"{self.path} {self.rps:,.0f} req/s (p50 {self.p50_ms:.1f} ms, p99 "
            f"{self.p99_ms:.1f} ms; CPU {self.cpu_text()}{per})"
        )


class GatewayBench:
    def __init__(self, sup, scratch: Path) -> None:  # type: ignore[no-untyped-def]
        from bench_platform import Api

        self.sup = sup
        self.api = Api(sup.base_url)
        self.scratch = scratch
        self.token_file = scratch / "gateway-bench-token"
        self.deal_path = ""

    async def close(self) -> None:
        await self.api.close()

    async def setup(self) -> None:
        import datetime as dt
        import secrets

        from bench_platform import TZ

        phase("gateway setup: one salesperson and one deal (via the gateway)")
        api = self.api
        admin = await api.login("admin", self.sup.admin_password())
        await api.call(
            "PUT",
            "/api/v1/directory/org-units/GWBENCH",
            token=admin,
            json={
                "org_unit_id": "GWBENCH",
                "name": "Gateway Bench Team",
                "kind": "team",
                "parent_id": None,
                "manager_id": None,
            },
        )
        eid = "GW0001"
        await api.call(
            "PUT",
            f"/api/v1/directory/employees/{eid}",
            token=admin,
            json={
                "employee_id": eid,
                "name": "Gateway Bench",
                "org_unit_id": "GWBENCH",
                "manager_id": None,
                "job_role": "salesperson",
                "roles": ["salesperson"],
                "status": "active",
                "hired_on": "2024-03-01",
            },
        )
        password = secrets.token_urlsafe(12)
        await api.call(
            "POST",
            "/api/v1/auth/users",
            token=admin,
            json={"username": "gateway-bench", "password": password, "roles": ["integration"]},
        )
        token = await api.login("gateway-bench", password)
        deadline = time.monotonic() + 60
        while True:  # the commission service learns the person from the directory's events
            status, _ = await api.call(
                "GET",
                f"/api/v1/commission/people/{eid}/statement",
                token=admin,
                expect=(200, 404),
            )
            if status == 200:
                break
            if time.monotonic() > deadline:
                raise BenchError(f"{eid} never reached the commission service")
            await asyncio.sleep(0.2)
        deal_id = "D-GW0001-0"
        await api.call(
            "POST",
            "/api/v1/commission/deals",
            token=token,
            json={
                "deal_id": deal_id,
                "salesperson_id": eid,
                "customer_name": "Gateway Bench Customer Co.",
                "amount": "100000.00",
                "currency": "CNY",
                "product_line": "ocean_freight",
                "closed_at": (dt.datetime.now(TZ) - dt.timedelta(days=1)).isoformat(),
                "source": "crm",
            },
        )
        self.deal_path = f"/api/v1/commission/deals/{deal_id}"
        self.token_file.write_text(token)
        self.token_file.chmod(0o600)
        # the same answer both ways (and the token works directly)
        for base in (self.sup.service_url("commission"), self.sup.base_url):
            async with api.session.get(
                base + self.deal_path, headers={"authorization": f"Bearer {token}"}
            ) as r:
                body = await r.read()
                if r.status != 200 or deal_id.encode() not in body:
                    raise BenchError(f"GET {base}{self.deal_path} -> {r.status}: {body[:200]!r}")
        say(f"deal {deal_id} readable directly and through the gateway")

    async def one_run(self, path: str, concurrency: int, duration_s: float, warmup_s: float) -> Run:
        base = self.sup.service_url("commission") if path == "direct" else self.sup.base_url
        pids = {k: v for k, v in self.sup.pids().items() if k != "supervisor"}
        proc = await asyncio.create_subprocess_exec(
            python(),
            str(THIS),
            "--client",
            "--url",
            base + self.deal_path,
            "--token-file",
            str(self.token_file),
            "--concurrency",
            str(concurrency),
            "--duration",
            str(duration_s),
            "--warmup",
            str(warmup_s),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        pids["client"] = proc.pid
        assert proc.stdout is not None
        cpu0: dict[str, float] = {}
        cpu1: dict[str, float] = {}
        t0 = t1 = 0.0
        result = None
        tail: list[str] = []
        try:
            async with asyncio.timeout(duration_s + warmup_s + 60):
                async for raw in proc.stdout:
                    line = raw.decode(errors="replace").rstrip()
                    if line == "MEASURE":
                        cpu0, t0 = _cpu_seconds(pids), time.perf_counter()
                        cpu0["machine"] = _machine_busy_s()
                    elif line == "END":
                        cpu1, t1 = _cpu_seconds(pids), time.perf_counter()
                        cpu1["machine"] = _machine_busy_s()
                    elif line.startswith("RESULT "):
                        result = json.loads(line[7:])
                    else:
                        tail = [*tail[-20:], line]
                await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        if result is None or proc.returncode != 0:
            raise BenchError(f"gateway bench client failed (exit {proc.returncode})", tail)
        if result["errors"] or not result["count"]:
            raise BenchError(
                f"gateway bench {path}: {result['count']} answers, errors {result['errors']}"
            )
        wall = max(t1 - t0, 1e-3)
        cpu = {}
        for name in ("client", "gateway", "commission"):
            if name in cpu1 and name in cpu0:
                cpu[name] = (cpu1[name] - cpu0[name]) / wall
        mine = ("client", "gateway", "commission", "machine")
        others = sum(cpu1[k] - cpu0.get(k, 0.0) for k in cpu1 if k not in mine)
        cpu["other platform"] = others / wall
        if "machine" in cpu0 and "machine" in cpu1:
            accounted = sum(cpu1[k] - cpu0.get(k, 0.0) for k in cpu1 if k != "machine")
            # busy time of processes that are not part of the bench (a shared machine)
            cpu["outside the bench"] = max(
                0.0, (cpu1["machine"] - cpu0["machine"] - accounted) / wall
            )
        run = Run(
            path,
            result["count"] / result["duration_s"],
            result["p50_ms"],
            result["p99_ms"],
            result["count"],
            result["errors"],
            cpu,
        )
        say("  " + run.text())
        return run

    async def measure(
        self,
        *,
        concurrency: int = 32,
        duration_s: float = 10.0,
        warmup_s: float = 2.0,
        rounds: int = 2,
        open_share: float = 0.5,
    ) -> list[Result]:
        phase(
            f"gateway overhead: GET {self.deal_path}, {concurrency} keep-alive connections, "
            f"{rounds} x (direct, gateway), {duration_s:.0f}s each after {warmup_s:.0f}s warm-up"
        )
        runs: list[Run] = []
        for _ in range(rounds):
            for path in ("direct", "gateway"):
                runs.append(await self.one_run(path, concurrency, duration_s, warmup_s))
        direct = max((r for r in runs if r.path == "direct"), key=lambda r: r.rps)
        gw = max((r for r in runs if r.path == "gateway"), key=lambda r: r.rps)
        closed_added = gw.p99_ms - direct.p99_ms
        say(
            f"gateway: {gw.rps:,.0f} req/s vs direct {direct.rps:,.0f} req/s "
            f"(ratio {gw.rps / direct.rps:.2f}); p50 {gw.p50_ms:.1f} vs {direct.p50_ms:.1f} ms, "
            f"p99 {gw.p99_ms:.1f} vs {direct.p99_ms:.1f} ms (closed loop, added "
            f"{closed_added:.1f} ms)"
        )
        common = (
            f"GET {self.deal_path} on the commission service (token check, one read), "
            f"same bearer token both ways; closed loop, {concurrency} keep-alive connections "
            f"from a separate aiohttp client process, {duration_s:.0f}s per run after "
            f"{warmup_s:.0f}s warm-up, runs alternated (direct, gateway) x {rounds}, the "
            f"better of each kept; kept: {direct.text()}; {gw.text()}; p50 added "
            f"{gw.p50_ms - direct.p50_ms:.1f} ms, p99 added {closed_added:.1f} ms (closed "
            f"loop: both sides saturated, so this swings by tens of ms); all runs: "
            + "; ".join(f"{r.path} {r.rps:,.0f}/s p99 {r.p99_ms:.1f} ms" for r in runs)
            + f"; CPU is the share of one core over the measured window ({os.cpu_count()} cores)"
        )
        opened = await self.open_loop(
            rate=max(10.0, round(direct.rps * open_share)),
            duration_s=duration_s,
            warmup_s=warmup_s,
            rounds=rounds,
        )
        baseline = Result(
            "gateway.direct_throughput",
            direct.rps,
            "requests/s",
            higher_is_better=True,
            notes=common,
        )
        return [
            baseline,
            Result(
                "gateway.throughput", gw.rps, "requests/s", higher_is_better=True, notes=common
            ).with_baseline(baseline),
            Result(
                "gateway.p99_added_ms",
                opened["p99_added"],
                "ms",
                higher_is_better=False,
                notes=opened["notes"] + "; target <= 2 ms; closed loop: " + common,
            ),
        ]

    async def open_loop(
        self, *, rate: float, duration_s: float, warmup_s: float, rounds: int
    ) -> dict[str, Any]:
        """Open loop at a fixed ``rate`` (about half the direct capacity), direct and
        through the gateway alternated, the gateway pinned to core 0 and the commission
        service to core 1, the load process left to the scheduler (on 2 cores it has none
        of its own; it needs ~10 % of one at this rate)."""
        from bench_api import load, pin, unpin

        phase(
            f"gateway open loop: {rate:.0f} req/s offered, {rounds} x (direct, gateway), "
            f"{duration_s:.0f}s each; gateway on core 0, commission on core 1"
        )
        pids = {k: v for k, v in self.sup.pids().items() if k in ("gateway", "commission")}
        pinned = {"gateway": 0, "commission": 1}
        for name, cpu in pinned.items():
            if name in pids:
                pin(pids[name], cpu)
        got: dict[str, list[dict[str, Any]]] = {"direct": [], "gateway": []}
        try:
            for _ in range(rounds):
                for path in ("direct", "gateway"):
                    base = (
                        self.sup.service_url("commission")
                        if path == "direct"
                        else self.sup.base_url
                    )
                    r = await load(
                        base + self.deal_path,
                        pids=pids,
                        token_file=self.token_file,
                        rate=rate,
                        connections=64,
                        duration_s=duration_s,
                        warmup_s=warmup_s,
                    )
                    got[path].append(r)
                    say(
                        f"  open {path}: {r['rps']:,.0f}/s answered of {rate:.0f}/s offered, "
                        f"p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, p99.9 "
                        f"{r['p999_ms']:.2f} ms"
                    )
        finally:
            for name in pinned:
                if name in pids:
                    unpin(pids[name])
        # the quieter run of each path (the lower p99): a shared machine adds bursts
        d = min(got["direct"], key=lambda r: r["p99_ms"])
        g = min(got["gateway"], key=lambda r: r["p99_ms"])
        added = {q: g[f"{q}_ms"] - d[f"{q}_ms"] for q in ("p50", "p99", "p999")}

        def cpu(r: dict[str, Any]) -> str:
            return ", ".join(f"{k} {v * 100:.0f}%" for k, v in r["cpu"].items())

        notes = (
            f"open loop, {rate:.0f} requests/s offered (half the closed-loop direct "
            f"capacity), each latency from the moment its request was due; gateway pinned to "
            f"core 0, commission to core 1, the load process unpinned; added p50 "
            f"{added['p50']:.2f} ms, p99 {added['p99']:.2f} ms, p99.9 {added['p999']:.2f} ms; "
            f"direct p50 {d['p50_ms']:.2f} / p99 {d['p99_ms']:.2f} / p99.9 {d['p999_ms']:.2f} ms "
            f"(CPU {cpu(d)}); gateway p50 {g['p50_ms']:.2f} / p99 {g['p99_ms']:.2f} / p99.9 "
            f"{g['p999_ms']:.2f} ms (CPU {cpu(g)}); all runs: "
            + "; ".join(f"{path} p99 {r['p99_ms']:.2f} ms" for path, rs in got.items() for r in rs)
        )
        say(f"gateway open loop: {notes}")
        return {"p99_added": added["p99"], "notes": notes}


async def gateway_phase(
    sup, scratch: Path, *, concurrency: int, duration_s: float, warmup_s: float, rounds: int
) -> list[Result]:  # type: ignore[no-untyped-def]
    bench = GatewayBench(sup, scratch)
    try:
        await bench.setup()
        from bench_platform import SliceBench

        await SliceBench.quiesce(bench)  # type: ignore[arg-type]
        return await bench.measure(
            concurrency=concurrency, duration_s=duration_s, warmup_s=warmup_s, rounds=rounds
        )
    finally:
        await bench.close()


if __name__ == "__main__":
    if "--client" in sys.argv[1:]:
        sys.exit(client_main(sys.argv[1:]))
    print("run through tests/bench/run.py --only gateway", file=sys.stderr)
    sys.exit(2)
