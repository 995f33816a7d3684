"""Where an authorised read's CPU goes: the commission app called in-process (no HTTP
server, no client), N x ``GET /api/v1/commission/deals/{id}`` with a finance token, under
cProfile, on SQLite or PostgreSQL.

    .venv/bin/python tests/bench/profile_api.py --backend sqlite -n 3000
    .venv/bin/python tests/bench/profile_api.py --backend postgres --pg-url postgresql://...

Prints microseconds per request of the whole app and the top of the profile (cumulative),
plus the parts the report names: token verification, middleware, session, ORM, JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import io
import os
import pstats
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "zhanli_commission", "migrate"],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
        timeout=120,
    )


async def seed(url: str, schema: str | None, eid: str, deal_id: str) -> None:
    from sqlalchemy import insert

    from zhanli_commission.db import people_table
    from zhanli_commission.sales.models import Deal
    from zhanli_shared.db import create_engine, utcnow

    engine = create_engine(url, schema=schema, pool_size=1)
    now = utcnow()
    async with engine.begin() as conn:
        await conn.execute(
            insert(people_table),
            [
                {
                    "employee_id": eid,
                    "name": "Profile Rep",
                    "org_unit_id": "PROF-T1",
                    "org_path": ["PROF", "PROF-T1"],
                    "manager_id": None,
                    "job_role": "salesperson",
                    "status": "active",
                    "hired_on": dt.date(2024, 3, 1),
                    "updated_at": now,
                }
            ],
        )
        await conn.execute(
            insert(Deal.__table__),
            [
                {
                    "deal_id": deal_id,
                    "salesperson_id": eid,
                    "customer_name": "Profile Customer Co.",
                    "amount": Decimal("100000.00"),
                    "collected": Decimal("0.00"),
                    "currency": "CNY",
                    "product_line": "ocean_freight",
                    "closed_at": now - dt.timedelta(days=1),
                    "source": "crm",
                    "created_at": now,
                    "margin": None,
                    "refunded": Decimal("0.00"),
                    "status": "open",
                }
            ],
        )
    await engine.dispose()


class Caller:
    """Calls an ASGI app as an HTTP server would, without a socket."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def get(self, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        status = 0
        body = bytearray()

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, bytes(body)


async def main_async(a: argparse.Namespace) -> None:
    from zhanli_commission.main import create_app
    from zhanli_commission.settings import CommissionSettings
    from zhanli_shared.auth import TokenIssuer, generate_rsa_keypair

    var = Path(tempfile.mkdtemp(prefix="zhanli-prof-"))
    if a.backend == "postgres":
        url, schema = a.pg_url, f"prof_{uuid.uuid4().hex[:8]}_commission"
    else:
        url, schema = f"sqlite+aiosqlite:///{var / 'commission.db'}", None
    env = {"ZHANLI_COMMISSION_DATABASE_URL": url, "ZHANLI_VAR_DIR": str(var)}
    if schema:
        env["ZHANLI_COMMISSION_DATABASE_SCHEMA"] = schema
    migrate(env)
    eid, deal_id = "PROF0001", f"D-PROF-{uuid.uuid4().hex[:6]}"
    await seed(url, schema, eid, deal_id)
    private, public = generate_rsa_keypair()
    token = TokenIssuer(private, issuer="zhanli-local", audience="zhanli").issue(
        "FIN001", ["finance"]
    )
    settings = CommissionSettings(
        database_url=url,
        database_schema=schema,
        relay_enabled=False,
        consumer_enabled=False,
        auth_public_key=public,
        log_level="WARNING",
    )
    app = create_app(settings)
    caller = Caller(app)
    headers = [(b"authorization", f"Bearer {token}".encode()), (b"host", b"x")]
    path = f"/api/v1/commission/deals/{deal_id}"
    try:
        async with app.router.lifespan_context(app):
            for _ in range(200):  # warm (statement caches, token cache)
                status, body = await caller.get(path, headers)
                assert status == 200, body
            for label, p in (("/health/live", "/health/live"), ("deal", path)):
                t, c = time.perf_counter(), time.process_time()
                for _ in range(a.n):
                    await caller.get(p, headers)
                took, cpu = time.perf_counter() - t, time.process_time() - c
                print(
                    f"{a.backend} {label}: {took / a.n * 1e6:,.0f} us wall, "
                    f"{cpu / a.n * 1e6:,.0f} us CPU (all threads) per request in-process"
                )
            prof = cProfile.Profile(time.process_time)  # CPU, not wall: a shared box
            prof.enable()
            for _ in range(a.n):
                await caller.get(path, headers)
            prof.disable()
            out = io.StringIO()
            stats = pstats.Stats(prof, stream=out)
            stats.sort_stats("cumulative").print_stats(a.top)
            print(out.getvalue())
            # the parts the issue asks about, as shares of the whole request (cumulative)
            parts = {
                "whole request (ASGI app)": "fastapi/applications.py:__call__",
                "request middleware (ours)": "observability.py:__call__",
                "token check (get_principal)": "auth.py:get_principal",
                "dependencies (solve_dependencies)": "utils.py:solve_dependencies",
                "route body (read_deal)": "router.py:read_deal",
                "session open/close (get_read_session)": "runtime.py:get_read_session",
                "SQL execute (AsyncSession/AsyncConnection)": "asyncio/engine.py:execute",
                "response serialisation (to_json)": "to_json",
            }
            raw = stats.stats  # type: ignore[attr-defined]
            total = None
            for label, key in parts.items():
                file_part, _, fn = key.rpartition(":")
                cum = sum(
                    v[3]
                    for (f, _line, name), v in raw.items()
                    if fn in name and (not file_part or f.endswith(file_part))
                )
                total = total or cum
                print(f"  {label:45s} {cum / a.n * 1e6:8,.0f} us  {cum / total * 100:5.1f} %")
            if a.tottime:
                out = io.StringIO()
                pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(a.top)
                print(out.getvalue())
            # the RS256 check alone, without the cache
            verifier = app.state.verifier
            t = time.perf_counter()
            for _ in range(200):
                verifier._verify(token)
            print(f"RS256 verify without cache: {(time.perf_counter() - t) / 200 * 1e6:,.0f} us")
    finally:
        if schema:
            from sqlalchemy import text

            from zhanli_shared.db import create_engine

            engine = create_engine(url)
            async with engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            await engine.dispose()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("-n", type=int, default=2000)
    p.add_argument("--top", type=int, default=45)
    p.add_argument("--tottime", action="store_true")
    a = p.parse_args()
    asyncio.run(main_async(a))


if __name__ == "__main__":
    main()
