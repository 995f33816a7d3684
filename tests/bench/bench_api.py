"""The API path of one service process: authorised reads, single and bulk writes.

- ``api.read_rps_pg`` / ``api.read_rps_sqlite``: ``GET /api/v1/commission/deals/{id}`` with
  a finance token (token check, the deal, its salesperson's org path, its splits), closed
  loop, 16 keep-alive connections from a separate load process (``bench_load.py``);
  baseline: the same process's ``GET /health/live`` (its ASGI stack alone) in the same run.
  The service process is pinned to core 0 and the load process to core 1 (a 2-core box:
  the relay and consumer threads of the service share its core).
- ``api.single_payment_per_s``: ``POST /api/v1/commission/payments`` (one payment each,
  fresh ids over 64 deals), closed loop, 16 connections, PostgreSQL.
- ``api.bulk_payments_per_s_pg``: ``POST /api/v1/commission/payments:batch`` of 1,000
  payments each, two requests in flight, until every payment has its commission line
  (posted -> line visible), PostgreSQL (baseline: ``commission.throughput_pg`` when it ran
  in the same ``make bench``).

The service is ``python -m zhanli_commission serve`` (API + relay + consumer) on a fresh
broker and database (bench_commission.commission_stack); only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

from bench_common import BenchError, Result, phase, python, say

THIS = Path(__file__).resolve()
LOAD = THIS.parent / "bench_load.py"
NAME = "api"


def pin(pid: int, cpu: int) -> None:
    """Pin every thread of ``pid`` (threads started later inherit it) to one core."""
    if not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2:
        return
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(int(tid), {cpu})


def unpin(pid: int) -> None:
    if not hasattr(os, "sched_setaffinity"):
        return
    every = set(range(os.cpu_count() or 1))
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(tid), every)


def proc_cpu(pids: dict[str, int]) -> dict[str, float]:
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for name, pid in pids.items():
        try:
            raw = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        rest = raw[raw.rfind(")") + 2 :].split()
        out[name] = (int(rest[11]) + int(rest[12])) / tick
    return out


def machine_busy_s() -> float:
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(x) for x in fields]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_text(cpu: dict[str, float]) -> str:
    return ", ".join(f"{k} {v * 100:.0f}%" for k, v in cpu.items())


async def load(
    url: str,
    *,
    pids: dict[str, int],
    token_file: Path | None = None,
    method: str = "GET",
    body_file: Path | None = None,
    ok: str = "200",
    concurrency: int = 0,
    rate: float = 0.0,
    connections: int = 64,
    duration_s: float = 10.0,
    warmup_s: float = 2.0,
    client_cpu: int | None = None,
) -> dict[str, Any]:
    """One run of ``bench_load.py`` in its own process; the result with a ``cpu`` split
    (share of one core over the measured window of each of ``pids``, the client, and the
    rest of the machine)."""
    argv = [python(), str(LOAD), "--url", url, "--method", method, "--ok", ok]
    argv += ["--duration", str(duration_s), "--warmup", str(warmup_s)]
    if token_file:
        argv += ["--token-file", str(token_file)]
    if body_file:
        argv += ["--body-file", str(body_file)]
    if rate:
        argv += ["--rate", str(rate), "--connections", str(connections)]
    else:
        argv += ["--concurrency", str(concurrency)]
    if client_cpu is not None and (os.cpu_count() or 1) >= 2:
        argv += ["--cpu", str(client_cpu)]
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    watched = {**pids, "client": proc.pid}
    assert proc.stdout is not None
    cpu0: dict[str, float] = {}
    cpu1: dict[str, float] = {}
    t0 = t1 = 0.0
    result = None
    tail: list[str] = []
    try:
        async with asyncio.timeout(duration_s + warmup_s + 90):
            async for raw in proc.stdout:
                line = raw.decode(errors="replace").rstrip()
                if line == "MEASURE":
                    cpu0, t0 = proc_cpu(watched), time.perf_counter()
                    cpu0["machine"] = machine_busy_s()
                elif line == "END":
                    cpu1, t1 = proc_cpu(watched), time.perf_counter()
                    cpu1["machine"] = machine_busy_s()
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
        raise BenchError(f"load client failed (exit {proc.returncode})", tail)
    if result["errors"] or not result["count"]:
        raise BenchError(f"{method} {url}: {result['count']} answers, errors {result['errors']}")
    wall = max(t1 - t0, 1e-3)
    cpu: dict[str, float] = {}
    for name in watched:
        if name in cpu0 and name in cpu1:
            cpu[name] = (cpu1[name] - cpu0[name]) / wall
    if "machine" in cpu0 and "machine" in cpu1:
        mine = sum(cpu1[k] - cpu0[k] for k in watched if k in cpu0 and k in cpu1)
        cpu["rest of the machine"] = max(0.0, (cpu1["machine"] - cpu0["machine"] - mine) / wall)
    result["cpu"] = cpu
    return result


def run_text(label: str, r: dict[str, Any]) -> str:
    # the service's CPU per request, and the rate one free core would give at that cost:
    # steadier than the rate itself on a shared machine
    per = ""
    if r["rps"] and r["cpu"].get("service"):
        us = r["cpu"]["service"] / r["rps"] * 1e6
        per = f"; service {us:,.0f} us CPU per request, {1e6 / us:,.0f}/s on a free core"
    return (
        f"{label} {r['rps']:,.0f}/s (p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
        f"p99.9 {r['p999_ms']:.1f} ms; CPU {cpu_text(r['cpu'])}{per})"
    )


def auth_env(scratch: Path) -> tuple[dict[str, str], Any]:
    from zhanli_shared.auth import TokenIssuer, generate_rsa_keypair

    private, public = generate_rsa_keypair()
    issuer = TokenIssuer(private, issuer="zhanli-local", audience="zhanli", ttl_s=3600)
    key_file = scratch / f"api-bench-{uuid.uuid4().hex[:6]}.pem"
    key_file.write_text(public)
    env = {
        "ZHANLI_COMMISSION_AUTH_PUBLIC_KEY_FILE": str(key_file),
        "ZHANLI_COMMISSION_AUTH_ISSUER": "zhanli-local",
        "ZHANLI_COMMISSION_AUTH_AUDIENCE": "zhanli",
    }
    return env, issuer


def write_token(scratch: Path, token: str) -> Path:
    path = scratch / f"api-bench-token-{uuid.uuid4().hex[:6]}"
    path.write_text(token)
    path.chmod(0o600)
    return path


async def read_phase(
    backend: str,
    var: Path,
    pg_url: str | None,
    *,
    concurrency: int = 16,
    duration_s: float = 8.0,
    warmup_s: float = 2.0,
    single_payments: bool = False,
) -> list[Result]:
    import bench_commission

    label = "PostgreSQL" if backend == "postgres" else "SQLite"
    suffix = "pg" if backend == "postgres" else "sqlite"
    phase(f"api reads on {label}: GET one deal vs GET /health/live, {concurrency} connections")
    env, issuer = auth_env(var)
    out: list[Result] = []
    async with bench_commission.commission_stack(backend, var, pg_url, 1, env) as s:
        reps = await bench_commission.seed_reps(s, "AR", 64)
        deal_id = reps["AR00000"][0]
        token = write_token(var, issuer.issue("FIN-BENCH", ["finance"]))
        base = f"http://127.0.0.1:{s.svc.port}"
        pid = s.svc.procs[0].pid
        pids = {"service": pid}
        pin(pid, 0)
        try:
            common = dict(
                pids=pids,
                token_file=token,
                concurrency=concurrency,
                duration_s=duration_s,
                warmup_s=warmup_s,
                client_cpu=1,
            )
            live = await load(base + "/health/live", **common)  # type: ignore[arg-type]
            say("  " + run_text("GET /health/live", live))
            read = await load(f"{base}/api/v1/commission/deals/{deal_id}", **common)  # type: ignore[arg-type]
            say("  " + run_text(f"GET /deals/{deal_id}", read))
            notes = (
                f"GET /api/v1/commission/deals/{{id}} with a finance token on {label}, closed "
                f"loop, {concurrency} keep-alive connections, {duration_s:.0f}s after "
                f"{warmup_s:.0f}s warm-up; service pinned to core 0, load process to core 1; "
                + run_text("deal", read)
                + "; baseline "
                + run_text("/health/live", live)
                + "; CPU is the share of one core over the measured window"
            )
            base_result = Result(
                f"api.live_rps_{suffix}", live["rps"], "requests/s", True, notes=notes
            )
            out.append(
                Result(
                    f"api.read_rps_{suffix}", read["rps"], "requests/s", True, notes=notes
                ).with_baseline(base_result)
            )
            out.append(
                Result(f"api.read_p99_ms_{suffix}", read["p99_ms"], "ms", False, notes=notes)
            )
            if single_payments:
                body = var / "api-bench-payment.json"
                paid_at = s.paid_at.isoformat()
                body.write_text(
                    json.dumps(
                        {
                            "payment_id": f"AP{uuid.uuid4().hex[:6]}-@@N@@",
                            "deal_id": "D-AR000@@K@@-0",
                            "amount": "1.00",
                            "currency": "CNY",
                            "paid_at": paid_at,
                            "source": "erp",
                        }
                    )
                )
                writer = write_token(var, issuer.issue("INT-BENCH", ["integration"]))
                pay = await load(
                    f"{base}/api/v1/commission/payments",
                    pids=pids,
                    token_file=writer,
                    method="POST",
                    body_file=body,
                    ok="201",
                    concurrency=concurrency,
                    duration_s=duration_s,
                    warmup_s=warmup_s,
                    client_cpu=1,
                )
                say("  " + run_text("POST /payments", pay))
                out.append(
                    Result(
                        "api.single_payment_per_s",
                        pay["rps"],
                        "requests/s",
                        True,
                        notes=(
                            f"POST /api/v1/commission/payments (one payment, fresh ids over "
                            f"64 deals; token check, validation, deal locked, payment, outbox "
                            f"event and audit fact committed) on {label}, closed loop, "
                            f"{concurrency} connections, {duration_s:.0f}s; the service's "
                            f"consumer prices the payments meanwhile on the same core; "
                            + run_text("POST", pay)
                        ),
                    )
                )
        finally:
            unpin(pid)
    return out


async def bulk_phase(
    var: Path,
    pg_url: str,
    *,
    payments: int = 20_000,
    batch_size: int = 1000,
    in_flight: int = 2,
    reps: int = 1000,
    consumers: int = 2,
    baseline: Result | None = None,
    timeout_s: float = 240.0,
) -> list[Result]:
    """``api.bulk_payments_per_s_pg``: batches of payments posted to the service until
    every payment has its commission line."""
    import aiohttp
    import bench_commission

    phase(
        f"api bulk: {payments:,} payments in batches of {batch_size} ({in_flight} in flight) "
        f"on PostgreSQL, {consumers} commission processes, until every line is visible"
    )
    env, issuer = auth_env(var)
    async with bench_commission.commission_stack("postgres", var, pg_url, consumers, env) as s:
        await bench_commission.warm_up(s)
        prefix = "BK"
        deals = await bench_commission.seed_reps(s, prefix, reps)
        token = issuer.issue("INT-BENCH", ["integration"])
        url = f"http://127.0.0.1:{s.svc.port}/api/v1/commission/payments:batch"
        headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
        paid_at = s.paid_at.isoformat()
        rep_ids = list(deals)
        bodies = []
        for b in range(0, payments, batch_size):
            items = [
                {
                    "payment_id": f"{prefix}{n:07d}",
                    "deal_id": deals[rep_ids[n % reps]][0],
                    "amount": f"{100 + n % 900}.{n % 100:02d}",
                    "currency": "CNY",
                    "paid_at": paid_at,
                    "source": "erp",
                }
                for n in range(b, min(b + batch_size, payments))
            ]
            bodies.append(json.dumps({"items": items}).encode())
        pids = s.svc.pids()
        latencies: list[float] = []
        created = 0
        problems: list[str] = []
        queue = list(reversed(bodies))
        cpu0 = proc_cpu(pids)
        busy0 = machine_busy_s()
        t0 = time.perf_counter()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:

            async def poster() -> None:
                nonlocal created
                while queue:
                    body = queue.pop()
                    ts = time.perf_counter()
                    async with http.post(url, data=body, headers=headers) as r:
                        got = await r.json()
                        if r.status != 200:
                            problems.append(f"{r.status}: {str(got)[:200]}")
                            continue
                    latencies.append(time.perf_counter() - ts)
                    created += got["created"]
                    if got["refused"]:
                        problems.append(str(got["items"][:2])[:300])

            await asyncio.gather(*(poster() for _ in range(in_flight)))
        t_posted = time.perf_counter()
        if problems or created != payments:
            raise BenchError(f"bulk: {created} of {payments} created", problems[:5])
        deadline = time.monotonic() + timeout_s
        while (found := await s.db.lines_found(prefix)) < payments:
            if time.monotonic() > deadline:
                raise BenchError(f"bulk: {found} of {payments} commission lines after {timeout_s}s")
            await asyncio.sleep(0.05)
        t_done = time.perf_counter()
        cpu1 = proc_cpu(pids)
        busy1 = machine_busy_s()
        verified = await s.db.verify(prefix, {f"{prefix}{n:07d}" for n in range(payments)}, "bulk")
    wall = t_done - t0
    used = {k: (cpu1[k] - cpu0.get(k, 0.0)) / wall for k in cpu1}
    mine = sum(cpu1[k] - cpu0.get(k, 0.0) for k in cpu1)
    used["rest of the machine"] = max(0.0, (busy1 - busy0 - mine) / wall)
    lat = sorted(latencies)
    service_cpu = sum(cpu1[k] - cpu0.get(k, 0.0) for k in cpu1)  # the commission processes
    per_payment_us = service_cpu / payments * 1e6
    notes = (
        f"{payments:,} payments over {reps:,} deals in POST /payments:batch of {batch_size} "
        f"({in_flight} in flight) straight to the commission service (serve + "
        f"{consumers - 1} consume processes) on PostgreSQL; from the first POST until every "
        f"payment's commission line is committed: {wall:.1f}s; the API answered all batches "
        f"after {t_posted - t0:.1f}s ({payments / (t_posted - t0):,.0f} payments/s accepted; "
        f"batch p50 {lat[len(lat) // 2] * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms); "
        f"{verified}; CPU over the run: {cpu_text(used)}; the commission processes spent "
        f"{per_payment_us:,.0f} us CPU per payment (API, consumer, relay), "
        f"{2e6 / per_payment_us:,.0f} payments/s on two free cores"
    )
    say(f"  bulk: {payments / wall:,.0f} payments/s end to end; " + notes)
    return [
        Result(
            "api.bulk_payments_per_s_pg", payments / wall, "payments/s", True, notes=notes
        ).with_baseline(baseline)
    ]


def main() -> None:
    import argparse
    import tempfile

    p = argparse.ArgumentParser()
    p.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--payments", action="store_true")
    p.add_argument("--bulk", type=int, default=0, help="bulk phase with N payments")
    a = p.parse_args()
    var = Path(tempfile.mkdtemp(prefix="zhanli-api-bench-"))
    if a.bulk:
        got = asyncio.run(bulk_phase(var, a.pg_url, payments=a.bulk))
    else:
        got = asyncio.run(
            read_phase(a.backend, var, a.pg_url, duration_s=a.seconds, single_payments=a.payments)
        )
    for r in got:
        print(r.name, r.value, r.baseline_value, r.notes)


if __name__ == "__main__":
    main()
