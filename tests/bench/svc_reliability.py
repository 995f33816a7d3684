"""Reliability bench: the short version of `make soak` (tests/soak/run.py): 2,000 events
(payments through the gateway and straight onto the broker, refunds, cancellations) on a
PostgreSQL cluster of the soak's own, with every fault injected once after 20 % progress
(broker SIGKILL, commission consumer / relay / API SIGKILL, PostgreSQL restart, a
rebalance, duplicate delivery, poison messages).

- ``reliability.lost_events``: accepted payments without a commission line (must be 0)
- ``reliability.duplicated_events``: payments with more than one line (must be 0)
- ``reliability.recovery_s``: the slowest recovery, component back -> next commission line

The notes give the events checked, the faults injected, reorderings and every recovery."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

from bench_common import BenchError, Result, phase, say

NAME = "reliability"
ROOT = pathlib.Path(__file__).resolve().parents[2]
EVENTS = 2_000


def _soak():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("zhanli_soak_run", ROOT / "tests/soak/run.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run(var: pathlib.Path, pg_url: str | None) -> list[Result]:
    """``pg_url`` is not used: the soak starts a PostgreSQL cluster of its own."""
    phase(f"reliability: {EVENTS:,} events under faults (short soak)")
    soak = _soak()
    var.mkdir(parents=True, exist_ok=True)
    args = soak.parser().parse_args(
        ["--events", str(EVENTS), "--rate", "40", "--scratch", str(var), "--settle-s", "120"]
    )
    args.seed = 1
    try:
        report = soak.soak(args)
    except SystemExit as exc:  # the soak could not set up (PostgreSQL, the platform)
        raise BenchError(f"reliability: the soak did not run: {exc}") from None
    faults = "; ".join(
        f"{f['kind']}@{f['at']} {f['recovery_s'] if f['recovery_s'] is None else round(f['recovery_s'], 1)}s"
        for f in report["faults"]
    )
    notes = (
        f"{report['payments_accepted']:,} payments checked ({report['via_gateway']:,} via the "
        f"gateway, {report['via_broker']:,} straight onto the broker), {report['refunds']} "
        f"refunds, {report['cancellations']} cancellations; {len(report['faults'])} faults "
        f"injected (kind@event recovery: {faults}); reordered {report['reorderings']} of "
        f"{report['order_checked']}; outbox left {sum(report['outbox_unsent_or_parked'].values())}; "
        f"consumer lag {report['consumer_lag']}; 5xx retried {report['http_5xx_retried']}; "
        f"poison dead-lettered {report['poison_dead_lettered']}/{report['poison_sent']}; "
        f"anomalies: {report['anomalies'] or 'none'}"
    )
    say(notes)
    results = [
        Result("reliability.lost_events", report["lost_writes"], "events", False, notes=notes),
        Result("reliability.duplicated_events", report["duplicates"], "events", False, notes=notes),
        Result("reliability.recovery_s", report["slowest_recovery_s"], "s", False, notes=notes),
    ]
    if report["lost_writes"] or report["duplicates"]:
        raise BenchError("reliability: events lost or duplicated under faults", [notes])
    return results
