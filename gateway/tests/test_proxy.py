"""The proxy's failure behaviour on real sockets: an answer that breaks after its head is
aborted (never a second answer or a problem after the headers), a failure before the head
is retried, and the circuit breaker lets traffic back within a second or so of a killed
upstream's return."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import orjson
import pytest
import uvicorn

import zhanli_gateway
from zhanli_gateway.proxy import CircuitBreaker, ProxyApp
from zhanli_shared.errors import PROBLEM_JSON, ProblemAnswer, problem_document
from zhanli_shared.testing.broker import free_port
from zhanli_shared.testing.plugin import eventually

Script = Callable[[asyncio.StreamWriter, int], Awaitable[None]]


class Seen(list[bytes]):
    """The request heads an upstream received, and its port."""

    port = 0


@contextlib.asynccontextmanager
async def upstream(script: Script) -> AsyncIterator[Seen]:
    """A raw HTTP/1.1 upstream: ``script(writer, n)`` answers the n-th request."""
    requests = Seen()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while not writer.is_closing():
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                requests.append(head)
                await script(writer, len(requests))
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    requests.port = server.sockets[0].getsockname()[1]
    try:
        yield requests
    finally:
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def gateway(base: str, **options: float) -> AsyncIterator[tuple[ProxyApp, int]]:
    """The proxy alone (no token check) under a real uvicorn, ``svc`` -> ``base``."""
    proxy = ProxyApp({"svc": base}, verifier=None, read_timeout_s=2.0, **options)  # type: ignore[arg-type]
    await proxy.start()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(proxy, host="127.0.0.1", port=port, lifespan="off", log_level="critical")
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started)
    try:
        yield proxy, port
    finally:
        server.should_exit = True
        await task
        await proxy.close()


async def raw_exchange(port: int, method: str, path: str, extra: str = "") -> bytes:
    """Everything the gateway sends back on one connection (asked to close it after)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"{method} {path} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n{extra}\r\n".encode()
    )
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 20)
    writer.close()
    return data


def status_lines(data: bytes) -> list[bytes]:
    return [line for line in data.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]


@pytest.mark.parametrize(
    ("method", "extra"),
    [("GET", ""), ("DELETE", "Content-Length: 0\r\n")],
    ids=["fast-lane", "aiohttp-lane"],
)
@pytest.mark.parametrize("framing", ["chunked", "content-length"])
async def test_a_body_failing_mid_stream_aborts_the_answer(
    method: str, extra: str, framing: str
) -> None:
    """Idempotent requests (retried when no answer started) whose answer breaks after its
    head: one answer start, the body cut, the connection closed, nothing sent again."""

    async def script(w: asyncio.StreamWriter, n: int) -> None:
        if framing == "chunked":
            w.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        else:  # more than the proxy reads whole before answering
            w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\nhello")
        await w.drain()
        w.close()

    async with upstream(script) as seen:
        async with gateway(f"http://127.0.0.1:{seen.port}") as (proxy, port):
            data = await raw_exchange(port, method, "/api/v1/svc/file", extra)
            assert status_lines(data) == [b"HTTP/1.1 200 OK"], data
            head, _, body = data.partition(b"\r\n\r\n")
            assert b"problem" not in data and b"hello" in body
            if framing == "chunked":
                assert not body.endswith(b"0\r\n\r\n")  # never a complete chunked body
            else:
                assert b"content-length: 200000" in head.lower() and len(body) < 200000
            assert len(seen) == 1  # not sent again once the answer had started
            assert proxy.breakers["svc"].failures == 1  # counted against the upstream


async def test_a_small_answer_failing_before_it_is_relayed_is_retried() -> None:
    async def script(w: asyncio.StreamWriter, n: int) -> None:
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        if n == 1:
            w.write(b"x" * 10)  # cut: the proxy reads small bodies whole first
            await w.drain()
            w.close()
            return
        w.write(b"y" * 100)
        await w.drain()

    async with upstream(script) as seen:
        async with gateway(f"http://127.0.0.1:{seen.port}") as (_, port):
            data = await raw_exchange(port, "GET", "/api/v1/svc/small")
    assert status_lines(data) == [b"HTTP/1.1 200 OK"]
    assert data.endswith(b"\r\n\r\n" + b"y" * 100)
    assert len(seen) == 2


def test_the_breaker_waits_short_then_longer_and_a_success_closes_it() -> None:
    now = [100.0]
    b = CircuitBreaker(2, max_open_s=4.0, min_open_s=0.5, clock=lambda: now[0])
    b.failure()
    assert b.allow() and b.state == "closed"
    b.failure()
    assert b.state == "open" and not b.allow() and b.retry_after_s() == 1
    for _ in range(10):  # requests in flight when it opened fail too: no longer wait
        b.failure()
    now[0] += 0.5
    assert b.state == "half-open"
    assert b.allow()  # the try
    assert not b.allow()  # one at a time
    waits = []
    for _ in range(5):
        b.failure()  # the try failed
        start = now[0]
        while not b.allow():
            now[0] += 0.25
        waits.append(now[0] - start)
    assert waits == [1.0, 2.0, 4.0, 4.0, 4.0]
    b.success()
    assert b.state == "closed" and b.allow() and b.open_for == 0.5


UPSTREAM_APP = """
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def ok(request):
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/health/live", ok), Route("/api/v1/svc/{rest:path}", ok)])
"""


def start_upstream(app_dir: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(app_dir),
            "upstream_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        start_new_session=True,
    )


async def test_a_killed_upstream_gets_traffic_back_soon_after_it_returns(tmp_path: Path) -> None:
    """A real upstream process killed (SIGKILL) and started again on its port: while it is
    down the breaker opens (503 with Retry-After); once it answers again, the breaker's
    health probe closes it within about a second, although its longest wait is 30 s."""
    (tmp_path / "upstream_app.py").write_text(UPSTREAM_APP)
    up_port = free_port()
    base = f"http://127.0.0.1:{up_port}"
    direct = httpx.AsyncClient(base_url=base, timeout=2)

    async def up() -> bool:
        try:
            return (await direct.get("/health/live")).status_code == 200
        except httpx.HTTPError:
            return False

    proc = start_upstream(tmp_path, up_port)
    try:
        async with gateway(base, breaker_threshold=3, breaker_reset_s=30.0) as (proxy, port):
            client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10)
            await eventually(up)
            assert (await client.get("/api/v1/svc/x")).status_code == 200
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
            statuses = []
            while 503 not in statuses:
                r = await client.get("/api/v1/svc/x")
                statuses.append(r.status_code)
                assert len(statuses) < 20, statuses
            assert set(statuses) == {502, 503}
            assert r.headers["content-type"] == PROBLEM_JSON and int(r.headers["retry-after"]) >= 1
            assert r.json() == problem_document(
                503,
                "Service unavailable",
                "The svc service is failing; retry shortly.",
                code="upstream-unavailable",
            )

            async def gateway_answers() -> bool:
                return (await client.get("/api/v1/svc/x")).status_code == 200

            # traffic goes on while it is down (each request that is let through fails)
            for _ in range(20):
                await client.get("/api/v1/svc/x")
                await asyncio.sleep(0.05)
            assert proxy.breakers["svc"].open_for > 0.5  # it waits longer between tries
            proc = start_upstream(tmp_path, up_port)
            await eventually(up, interval_s=0.02)
            back = time.monotonic()
            await eventually(gateway_answers, timeout_s=30, interval_s=0.05)
            lag = time.monotonic() - back
            print(f"gateway answered {lag:.2f}s after the upstream was back")
            # probe every 0.5 s: about 0.5 s; a busy machine adds to it, never up to 30 s
            assert lag < 5.0
            assert proxy.breakers["svc"].state == "closed"
            await client.aclose()
    finally:
        await direct.aclose()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def test_one_problem_writer() -> None:
    """Every problem+json body of the gateway and the services comes from
    zhanli_shared.errors (problem_document): no other module builds one."""
    repo = Path(__file__).parents[2]
    roots = [
        Path(zhanli_gateway.__file__).parent,
        *repo.glob("*/src"),
        *repo.glob("services/*/src"),
    ]
    offenders = []
    for root in roots:
        for path in root.rglob("*.py"):
            if path.name == "errors.py" and path.parent.name == "zhanli_shared":
                continue
            text = path.read_text(encoding="utf-8")
            if "PROBLEM_BASE" in text or '"type": "https://zhanli.dev/problems' in text:
                offenders.append(str(path))
    assert offenders == []
    body = orjson.loads(
        ProblemAnswer(429, "Too many requests", "Slow down.", code="rate-limited").body
    )
    assert body == problem_document(429, "Too many requests", "Slow down.", code="rate-limited")
