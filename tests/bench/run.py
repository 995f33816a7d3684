"""`make bench`: Zhanli's benchmarks, written to var/bench/results.json.

Figures (each measured in this run; a baseline, when there is one, is measured here too):

  broker.raw_throughput  aiokafka produce + consume through a fresh local Tansu broker
  slice.throughput       payments posted through the gateway until every commission line
                         is readable through the gateway (baseline: broker.raw_throughput)
  slice.latency_p50_ms   at a fixed 50 payments/s (open loop): 201 received -> commission
  slice.latency_p99_ms   line readable through the gateway
  gateway.direct_throughput  GET of one deal straight from the commission service, 32
                         keep-alive connections from a separate client process (requests/s)
  gateway.throughput     the same GET through the gateway (baseline: gateway.direct_throughput)
  gateway.p99_added_ms   open loop at half the direct capacity, gateway on core 0 and the
                         service on core 1: p99 through the gateway minus p99 direct
                         (p50 and p99.9 added in its notes)
  commission.throughput_pg  payment events produced straight to the broker until every one
                         has its commission line and its commission.calculated event is on
                         the broker; the commission service alone, real processes, on
                         PostgreSQL (baseline: broker.raw_throughput)
  commission.throughput_sqlite  the same on SQLite (baseline: broker.raw_throughput)
  commission.latency_p50_ms  open loop on PostgreSQL: event sent -> line committed
  commission.latency_p99_ms
  commission.recalc_period_s  recalculate_period of one period, 1,000 reps x 100 payments
                         (PostgreSQL); a second run must append nothing

The platform is the embedded one (deploy/embedded/supervisor.py: Tansu, SQLite, five
services and the gateway) on free ports and a temporary var dir, always stopped at the
end. Only 127.0.0.1 is contacted. Correctness is checked while measuring: every accepted
payment must have exactly one commission line; otherwise the run fails (exit code 1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import importlib

import bench_broker
import bench_commission
import bench_gateway
import bench_platform
from bench_common import BenchError, Result, phase, say, sigterm_as_interrupt, table

ROOT = Path(__file__).resolve().parents[2]

# Each service's own figures: ``tests/bench/svc_<service>.py`` with ``NAME`` and
# ``run(var: Path, pg_url: str | None) -> list[Result]`` (every figure with the baseline it
# measured in the same run, and its notes). ``--only <NAME>`` runs one alone.
SERVICE_BENCHES = {
    m.NAME: m
    for m in (
        importlib.import_module(f.stem) for f in sorted(Path(__file__).parent.glob("svc_*.py"))
    )
}
SHUTDOWN_S = 5.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="make bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", default=str(ROOT / "var" / "bench" / "results.json"))
    p.add_argument("--broker-messages", type=int, default=50_000)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--throughput-seconds", type=float, default=20.0)
    p.add_argument("--max-payments", type=int, default=10_000)
    p.add_argument("--latency-rate", type=float, default=50.0)
    p.add_argument("--latency-seconds", type=float, default=20.0)
    p.add_argument("--poll-interval-ms", type=float, default=5.0)
    p.add_argument(
        "--poll-concurrency",
        type=int,
        default=4,
        help="latency phase: statement polls in flight at once",
    )
    p.add_argument(
        "--keep-var",
        action="store_true",
        help="keep the temporary var dir (logs, SQLite files) for inspection",
    )
    p.add_argument("--gateway-concurrency", type=int, default=32)
    p.add_argument("--gateway-seconds", type=float, default=10.0, help="per measured run")
    p.add_argument("--gateway-warmup", type=float, default=2.0)
    p.add_argument("--gateway-rounds", type=int, default=2, help="(direct, gateway) pairs")
    p.add_argument(
        "--only",
        choices=["broker", "slice", "gateway", "commission", *SERVICE_BENCHES],
        default=None,
    )
    p.add_argument(
        "--pg-url",
        default=os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="PostgreSQL for the commission figures (a fresh schema each, dropped after)",
    )
    p.add_argument("--commission-payments", type=int, default=20_000)
    p.add_argument("--commission-reps", type=int, default=1_000)
    p.add_argument(
        "--commission-consumers",
        type=int,
        default=2,
        help="commission processes consuming on PostgreSQL (serve + N-1 consume; one per "
        "core); the pg1 phase always runs one process",
    )
    p.add_argument("--commission-latency-rate", type=float, default=200.0)
    p.add_argument("--commission-latency-seconds", type=float, default=20.0)
    p.add_argument("--commission-poll-interval-ms", type=float, default=5.0)
    p.add_argument("--recalc-reps", type=int, default=1_000)
    p.add_argument("--recalc-payments", type=int, default=100, help="per rep")
    p.add_argument(
        "--commission-phases",
        default="pg,pg1,sqlite,latency,recalc",
        help="comma-separated subset of pg,pg1,sqlite,latency,recalc",
    )
    p.add_argument(
        "--budget-seconds",
        type=float,
        default=225.0,
        help="whole run, plus the gateway phase; slice phases shrink if start-up was slow",
    )
    return p.parse_args(argv)


async def slice_phases(
    sup: bench_platform.Supervisor,
    args: argparse.Namespace,
    baseline: Result | None,
    results: list[Result],
    failed: Callable[[str, BaseException], None],
    deadline: float,
) -> None:
    """Setup, slice.throughput, slice.latency. Durations shrink when the start-up ate
    into the time budget (a slow, shared machine), so `make bench` stays bounded."""
    bench = bench_platform.SliceBench(sup)
    nominal = 10 + (args.throughput_seconds + 30) + (args.latency_seconds + 35) + SHUTDOWN_S
    scale = min(1.0, max(0.25, (deadline - time.monotonic()) / nominal))
    if scale < 1.0:
        say(
            f"time budget: {deadline - time.monotonic():.0f}s left for ~{nominal:.0f}s of work; "
            f"phases shortened to {scale * 100:.0f}%"
        )
    try:
        await bench.setup()
        await bench.quiesce()
        latency_need = args.latency_seconds * scale + 35 + SHUTDOWN_S
        try:
            results.append(
                await bench.throughput(
                    concurrency=args.concurrency,
                    duration_s=args.throughput_seconds * scale,
                    max_payments=args.max_payments,
                    baseline=baseline,
                    drain_timeout_s=min(
                        60.0,
                        max(
                            10.0,
                            deadline
                            - time.monotonic()
                            - args.throughput_seconds * scale
                            - latency_need,
                        ),
                    ),
                )
            )
        except BenchError as exc:  # the system was wrong or stuck: still measure latency
            failed("slice.throughput", exc)
        await bench.quiesce(max_s=max(1.0, min(15.0, deadline - time.monotonic() - latency_need)))
        lat_s = max(
            5.0, min(args.latency_seconds * scale, deadline - time.monotonic() - 35 - SHUTDOWN_S)
        )
        results.extend(
            await bench.latency(
                rate=args.latency_rate,
                duration_s=lat_s,
                poll_interval_s=args.poll_interval_ms / 1000,
                poll_concurrency=args.poll_concurrency,
                drain_timeout_s=max(
                    10.0, min(45.0, deadline - time.monotonic() - lat_s - SHUTDOWN_S)
                ),
            )
        )
    finally:
        await bench.close()


def commission_phases(
    args: argparse.Namespace,
    var: Path,
    baseline: Result | None,
    results: list[Result],
    failed: Callable[[str, BaseException], None],
) -> None:
    """The commission service alone on PostgreSQL and SQLite (each phase its own broker,
    database and processes); PostgreSQL phases are skipped when it cannot be reached."""
    wanted = {p.strip() for p in args.commission_phases.split(",") if p.strip()}
    pg = args.pg_url if bench_commission.pg_available(args.pg_url) else None
    if pg is None and wanted & {"pg", "latency", "recalc"}:
        failed("commission (PostgreSQL)", BenchError(f"PostgreSQL not reachable at {args.pg_url}"))
    runs: list[tuple[str, Callable[[], object]]] = []
    throughput_runs = [
        ("pg", "postgres", args.commission_consumers, "commission.throughput_pg"),
        ("pg1", "postgres", 1, "commission.throughput_pg_one_process"),
        ("sqlite", "sqlite", 1, "commission.throughput_sqlite"),
    ]
    for phase_name, backend, consumers, name in throughput_runs:
        if phase_name in wanted and (backend == "sqlite" or pg):
            runs.append(
                (
                    f"{name} ({backend})",
                    lambda backend=backend, consumers=consumers, name=name: (
                        bench_commission.throughput(
                            backend,
                            var,
                            pg,
                            n=args.commission_payments,
                            reps=args.commission_reps,
                            consumers=consumers,
                            baseline=baseline,
                            timeout_s=400,
                            name=name,
                        )
                    ),
                )
            )
    if "latency" in wanted and pg:
        runs.append(
            (
                "commission.latency",
                lambda: bench_commission.latency(
                    var,
                    pg,
                    rate=args.commission_latency_rate,
                    duration_s=args.commission_latency_seconds,
                    reps=200,
                    poll_interval_s=args.commission_poll_interval_ms / 1000,
                    consumers=args.commission_consumers,
                ),
            )
        )
    if "recalc" in wanted and pg:
        runs.append(
            (
                "commission.recalc_period_s",
                lambda: bench_commission.recalc(
                    var, pg, reps=args.recalc_reps, per_rep=args.recalc_payments
                ),
            )
        )
    for label, make in runs:
        try:
            got = asyncio.run(make())  # type: ignore[arg-type]
            results.extend(got if isinstance(got, list) else [got])  # type: ignore[list-item]
        except Exception as exc:
            failed(label, exc)


def write(results: list[Result], errors: list[str], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = [r.to_json() for r in results]
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(out)
    say(f"wrote {len(payload)} figures to {out}" + (f" ({len(errors)} errors)" if errors else ""))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    deadline = started + args.budget_seconds
    results: list[Result] = []
    errors: list[str] = []
    var = Path(tempfile.mkdtemp(prefix="zhanli-bench-"))
    say(f"Zhanli benchmarks; scratch dir {var}")

    def failed(what: str, exc: BaseException) -> None:
        errors.append(f"{what}: {exc}")
        say(f"ERROR in {what}: {exc}")
        for line in getattr(exc, "details", []) or []:
            say(f"    {line}")
        if not isinstance(exc, BenchError):
            traceback.print_exc()

    with sigterm_as_interrupt():
        try:
            baseline = None
            if args.only in (None, "broker", "commission"):
                try:
                    baseline = bench_broker.run(args.broker_messages, log_dir=var)
                    results.append(baseline)
                except Exception as exc:
                    failed("broker.raw_throughput", exc)
            if args.only in (None, "slice", "gateway"):
                phase(
                    "platform start-up: embedded supervisor (Tansu + SQLite + 6 services + gateway)"
                )
                sup = bench_platform.Supervisor(var / "platform")
                try:
                    sup.start()
                    took = sup.wait_ready()
                    say(f"platform ready after {took:.1f}s: {sup.ready_line.split('] ', 1)[-1]}")
                    if args.only in (None, "gateway"):
                        t_gw = time.monotonic()
                        try:
                            results.extend(
                                asyncio.run(
                                    bench_gateway.gateway_phase(
                                        sup,
                                        var,
                                        concurrency=args.gateway_concurrency,
                                        duration_s=args.gateway_seconds,
                                        warmup_s=args.gateway_warmup,
                                        rounds=args.gateway_rounds,
                                    )
                                )
                            )
                        except Exception as exc:
                            failed("gateway", exc)
                        deadline += time.monotonic() - t_gw  # not counted in the budget
                    if args.only in (None, "slice"):
                        asyncio.run(slice_phases(sup, args, baseline, results, failed, deadline))
                except Exception as exc:
                    failed("slice", exc)
                finally:
                    phase("platform shutdown")
                    sup.stop()
            if args.only in (None, "commission"):
                commission_phases(args, var, baseline, results, failed)
            pg_url = None
            for name, module in SERVICE_BENCHES.items():
                if args.only not in (None, name):
                    continue
                phase(f"{name} service")
                if pg_url is None and bench_commission.pg_available(args.pg_url):
                    pg_url = args.pg_url
                try:
                    (var / name).mkdir(parents=True, exist_ok=True)
                    got = module.run(var / name, pg_url)
                    # a figure whose baseline is another bench's figure of this run
                    by_name = {r.name: r for r in results}
                    for r in got:
                        wanted = getattr(module, "BASELINES", {}).get(r.name)
                        if r.baseline_name is None and wanted in by_name:
                            r.with_baseline(by_name[wanted])
                    results.extend(got)
                except Exception as exc:
                    failed(name, exc)
        except KeyboardInterrupt:
            errors.append("interrupted")
            say("interrupted")
        finally:
            write(results, errors, Path(args.out))
            if not args.keep_var:
                shutil.rmtree(var, ignore_errors=True)
            else:
                say(f"kept {var}")
    print()
    print(table(results), flush=True)
    print()
    for r in results:
        print(f"{r.name}: {r.notes}")
    print()
    say(
        f"done in {time.monotonic() - started:.0f}s"
        + (f" with {len(errors)} error(s):" if errors else "")
    )
    for e in errors:
        print(f"  ERROR {e}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
