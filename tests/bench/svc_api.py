"""`make bench` figures of the API path (issue 11), measured on the commission service:

  api.read_rps_sqlite / api.read_rps_pg  GET one deal with a finance token, closed loop,
                         16 connections (baseline: the same process's GET /health/live)
  api.read_p99_ms_sqlite / api.read_p99_ms_pg  p99 of those reads
  api.single_payment_per_s  POST /payments, one payment each, 16 connections (PostgreSQL)
  api.bulk_payments_per_s_pg  POST /payments:batch of 1,000 until every commission line is
                         visible (baseline: commission.throughput_pg when it ran too)

``tests/bench/run.py --only api`` runs them alone; bench_api.py has the details.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import bench_api
from bench_common import Result

NAME = "api"
# figures whose baseline is measured by another part of the same `make bench` run
BASELINES = {"api.bulk_payments_per_s_pg": "commission.throughput_pg"}


def run(var: Path, pg_url: str | None) -> list[Result]:
    out: list[Result] = []
    out += asyncio.run(bench_api.read_phase("sqlite", var, None, duration_s=6.0))
    if pg_url:
        out += asyncio.run(
            bench_api.read_phase("postgres", var, pg_url, duration_s=6.0, single_payments=True)
        )
        out += asyncio.run(bench_api.bulk_phase(var, pg_url, payments=10_000))
    return out
