"""A load generator in its own process: closed loop (N keep-alive connections, each sending
its next request when the previous answer is read) or open loop (requests started at a
fixed rate whatever the answers, so a slow server cannot slow the clock: latency is
measured from the moment a request was due, not when it could be sent).

    python bench_load.py --url URL [--token-file F] [--method POST --body-file B]
        (--concurrency N | --rate R [--connections N]) --duration S --warmup S [--cpu 1]

Prints ``MEASURE`` when the measured window starts, ``END`` when it ends, then
``RESULT {json}`` (count, p50/p90/p99/p99.9/max in ms, errors, client CPU seconds).
Only the URL given is contacted (127.0.0.1 in the benches).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summary(lat: list[float], duration_s: float, bad: dict[str, int], cpu: float) -> dict[str, Any]:
    ms = [x * 1000 for x in lat]
    return {
        "count": len(lat),
        "duration_s": duration_s,
        "rps": len(lat) / duration_s if duration_s else 0.0,
        "p50_ms": percentile(ms, 50) if ms else None,
        "p90_ms": percentile(ms, 90) if ms else None,
        "p99_ms": percentile(ms, 99) if ms else None,
        "p999_ms": percentile(ms, 99.9) if ms else None,
        "max_ms": max(ms) if ms else None,
        "errors": bad,
        "client_cpu_s": cpu,
    }


async def run(a: argparse.Namespace, token: str | None, body: bytes | None) -> dict[str, Any]:
    import aiohttp

    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    # a body with @@N@@ gets a number of its own per request (fresh ids for every POST)
    # and @@K@@ its number modulo 64, two digits (spread over 64 deals)
    numbered = body is not None and b"@@N@@" in body
    serial = iter(range(10**9))
    ok = set(int(s) for s in a.ok.split(","))
    connections = a.concurrency or a.connections
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=0, keepalive_timeout=60)
    lat: list[float] = []
    bad: dict[str, int] = {}
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=60),
        cookie_jar=aiohttp.DummyCookieJar(),
    ) as session:

        async def one() -> int | str:
            data = body
            if numbered:
                n = next(serial)
                data = data.replace(b"@@N@@", str(n).encode()).replace(b"@@K@@", b"%02d" % (n % 64))
            try:
                async with session.request(a.method, a.url, headers=headers, data=data) as r:
                    await r.read()
                    return r.status
            except Exception as exc:  # counted, the run goes on
                return type(exc).__name__

        # open every connection before the clock starts
        await asyncio.gather(*(one() for _ in range(connections)))
        t0 = time.perf_counter()
        t_measure = t0 + a.warmup
        t_end = t_measure + a.duration
        marks: dict[str, float] = {}

        async def marker() -> None:
            await asyncio.sleep(max(0.0, t_measure - time.perf_counter()))
            marks["cpu0"] = time.process_time()
            print("MEASURE", flush=True)
            await asyncio.sleep(max(0.0, t_end - time.perf_counter()))
            marks["cpu1"] = time.process_time()
            print("END", flush=True)

        def count(ts: float, te: float, status: int | str) -> None:
            if t_measure <= ts and te <= t_end:
                if status in ok:
                    lat.append(te - ts)
                else:
                    bad[str(status)] = bad.get(str(status), 0) + 1

        mark = asyncio.create_task(marker())
        perf = time.perf_counter
        if a.rate:
            # open loop: request i is due at t0 + i / rate; its latency counts from then
            interval = 1.0 / a.rate
            pending: set[asyncio.Task[None]] = set()

            async def timed(due: float) -> None:
                status = await one()
                count(due, perf(), status)

            i = 0
            while True:
                due = t0 + i * interval
                if due >= t_end:
                    break
                delay = due - perf()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.create_task(timed(due))
                pending.add(task)
                task.add_done_callback(pending.discard)
                i += 1
            if pending:
                await asyncio.wait(pending, timeout=60)
        else:

            async def worker() -> None:
                while True:
                    ts = perf()
                    if ts >= t_end:
                        return
                    status = await one()
                    count(ts, perf(), status)

            await asyncio.gather(*(worker() for _ in range(a.concurrency)))
        await mark
    return summary(lat, a.duration, bad, marks.get("cpu1", 0.0) - marks.get("cpu0", 0.0))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench_load.py")
    p.add_argument("--url", required=True)
    p.add_argument("--token-file")
    p.add_argument("--method", default="GET")
    p.add_argument("--body-file")
    p.add_argument("--ok", default="200", help="statuses counted as answers, e.g. 200,201")
    p.add_argument("--concurrency", type=int, default=0, help="closed loop connections")
    p.add_argument("--rate", type=float, default=0.0, help="open loop requests/s")
    p.add_argument("--connections", type=int, default=64, help="open loop connection limit")
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--cpu", type=int, default=None, help="pin this process to one core")
    a = p.parse_args(argv)
    if not a.concurrency and not a.rate:
        p.error("--concurrency or --rate")
    if a.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {a.cpu})
    token = Path(a.token_file).read_text().strip() if a.token_file else None
    body = Path(a.body_file).read_bytes() if a.body_file else None
    try:
        import uvloop

        out = uvloop.run(run(a, token, body))
    except ImportError:
        out = asyncio.run(run(a, token, body))
    print("RESULT " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
