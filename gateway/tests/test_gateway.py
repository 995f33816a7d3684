"""The gateway: the built-in issuer's JWKS, the proxy's routing and its failure modes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

import zhanli_gateway
from zhanli_gateway.main import create_app
from zhanli_gateway.settings import GatewaySettings
from zhanli_shared.testing.broker import free_port
from zhanli_shared.testing.plugin import DatabaseTarget, eventually
from zhanli_shared.testing.services import RunningService, running_service, service_settings


async def echo(request: Request) -> Response:
    body = await request.body()
    return JSONResponse(
        {
            "path": request.url.path,
            "query": request.url.query,
            "length": len(body),
            "request_id": request.headers.get("x-request-id"),
            "auth": bool(request.headers.get("authorization")),
        }
    )


async def big(request: Request) -> StreamingResponse:
    async def chunks():
        for _ in range(80):
            yield b"x" * 65536

    return StreamingResponse(chunks(), media_type="application/octet-stream")


async def slow(request: Request) -> Response:
    await asyncio.sleep(3)
    return JSONResponse({})


async def broken(request: Request) -> Response:
    return JSONResponse({"detail": "boom"}, status_code=500)


UPSTREAMS: dict[int, uvicorn.Server] = {}  # by port: the tests can see their connections


@contextlib.asynccontextmanager
async def upstream_server() -> AsyncIterator[int]:
    app = Starlette(
        routes=[
            Route("/api/v1/echo/{rest:path}", echo, methods=["GET", "POST"]),
            # stands in for the people service
            Route("/api/v1/directory/{rest:path}", echo, methods=["GET", "POST"]),
            Route("/api/v1/auth/{rest:path}", echo, methods=["GET", "POST"]),
            Route("/api/v1/big/file", big),
            Route("/api/v1/slow/x", slow),
            Route("/api/v1/broken/x", broken),
        ]
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_keep_alive=1)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    UPSTREAMS[port] = server
    try:
        yield port
    finally:
        del UPSTREAMS[port]
        server.should_exit = True
        await task


@pytest.fixture(scope="module")
async def gateway(
    db_backend: str, broker, keypair, issuer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningService]:
    target = DatabaseTarget(db_backend, tmp_path_factory.mktemp("gateway"), "gateway")
    async with upstream_server() as port:
        up = f"http://127.0.0.1:{port}"
        settings = service_settings(
            GatewaySettings,
            target,
            broker,
            keypair[1],
            auth_private_key=SecretStr(keypair[0]),
            upstreams={
                "echo": up,
                "people": up,
                "big": up,
                "slow": up,
                "broken": up,
                "down": f"http://127.0.0.1:{free_port()}",
            },
            upstream_read_timeout_s=0.5,
            breaker_failure_threshold=3,
            breaker_reset_s=30,
            metrics_port=0,  # a listener of its own, on any free port of 127.0.0.1
        )
        async with running_service(
            create_app, settings, Path(zhanli_gateway.__file__).parent / "migrations", issuer
        ) as svc:
            yield svc
    await target.cleanup()


async def admin_headers(gw: RunningService) -> dict[str, str]:
    return gw.auth("admin", ["hr_admin", "it_ops"])


async def test_jwks_of_the_built_in_issuer(gateway) -> None:
    jwks = (await gateway.client.get("/.well-known/jwks.json")).json()
    assert jwks["keys"][0]["kty"] == "RSA" and jwks["keys"][0]["kid"]


async def test_metrics_only_on_their_own_loopback_listener(gateway) -> None:
    """Request counts by route and process details are not for anyone who can reach the
    public port: /metrics there is a 404 like any unknown path, with or without a token;
    the metrics listener (its own port, on 127.0.0.1 by default) has them."""
    import httpx

    for headers in ({}, await admin_headers(gateway)):
        public = await gateway.client.get("/metrics", headers=headers)
        assert public.status_code == 404, public.text
        assert public.headers["content-type"] == "application/problem+json"
        assert "zhanli_http_requests_total" not in public.text
    listener = gateway.runtime.metrics_listener
    assert listener is not None and listener.host == "127.0.0.1"
    assert listener.port != gateway.settings.port
    await gateway.client.get("/health/live")
    scraped = await asyncio.to_thread(
        httpx.get, f"http://127.0.0.1:{listener.port}/metrics", timeout=10
    )
    assert scraped.status_code == 200
    assert 'route="/health/live",service="gateway"' in scraped.text
    assert "process_cpu_seconds_total" in scraped.text or "python_info" in scraped.text


async def test_the_people_services_paths_are_routed_there_unchanged(gateway) -> None:
    """/api/v1/directory/... and /api/v1/auth/... go to the people service as they are
    (sign-in without a token); the gateway keeps its own client-credentials endpoint."""
    proxy = gateway.app.proxy
    assert proxy.service_of("/api/v1/directory/employees/E1") == "people"
    assert proxy.service_of("/api/v1/auth/api-keys/abc") == "people"
    assert proxy.service_of("/api/v1/auth/oauth/token") is None
    h = await admin_headers(gateway)
    r = await gateway.client.get("/api/v1/directory/org-units?x=1", headers=h)
    assert r.status_code == 200 and r.json()["path"] == "/api/v1/directory/org-units"
    assert r.json()["query"] == "x=1" and r.json()["auth"] is True
    signin = await gateway.client.post(
        "/api/v1/auth/token", json={"username": "u", "password": "p"}
    )
    assert signin.status_code == 200 and signin.json()["auth"] is False
    assert (await gateway.client.get("/api/v1/directory/org-units")).status_code == 401
    own = await gateway.client.post(
        "/api/v1/auth/oauth/token",
        content="grant_type=client_credentials",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert own.status_code == 401 and own.json()["error"] == "invalid_client"


async def test_proxy_forwards_and_streams(gateway) -> None:
    h = await admin_headers(gateway)
    r = await gateway.client.post(
        "/api/v1/echo/a/b?x=1", headers={**h, "x-request-id": "rid-1"}, content=b"y" * 300_000
    )
    assert r.status_code == 200
    assert r.json() == {
        "path": "/api/v1/echo/a/b",
        "query": "x=1",
        "length": 300_000,
        "request_id": "rid-1",
        "auth": True,
    }
    assert r.headers["x-request-id"] == "rid-1"
    big = await gateway.client.get("/api/v1/big/file", headers=h)
    assert big.status_code == 200 and len(big.content) == 80 * 65536


async def test_proxied_gets_reuse_connections_and_survive_idle_closes(gateway) -> None:
    """Bodiless GETs take the proxy's fast lane (zhanli_gateway.upstream)."""
    h = await admin_headers(gateway)
    for i in range(3):
        r = await gateway.client.get(
            f"/api/v1/echo/a/b?x={i}&y=%20z", headers={**h, "x-request-id": f"rid-g{i}"}
        )
        assert r.status_code == 200
        assert r.json() == {
            "path": "/api/v1/echo/a/b",
            "query": f"x={i}&y=%20z",
            "length": 0,
            "request_id": f"rid-g{i}",
            "auth": True,
        }
        assert r.headers["x-request-id"] == f"rid-g{i}"
    many = await asyncio.gather(
        *(gateway.client.get(f"/api/v1/echo/n{i}", headers=h) for i in range(20))
    )
    assert [r.json()["path"] for r in many] == [f"/api/v1/echo/n{i}" for i in range(20)]
    # Wait until the upstream has closed its idle keep-alive connections (after 1 s).
    upstream = UPSTREAMS[int(gateway.settings.upstreams["echo"].rsplit(":", 1)[1])]
    await eventually(lambda: not upstream.server_state.connections)
    r = await gateway.client.get("/api/v1/echo/again", headers=h)
    assert r.status_code == 200 and r.json()["path"] == "/api/v1/echo/again"
    big = await gateway.client.get("/api/v1/big/file", headers=h)  # chunked, streamed
    assert big.status_code == 200 and big.content == b"x" * (80 * 65536)


async def test_proxy_refuses_without_a_valid_token(gateway) -> None:
    r = await gateway.client.get("/api/v1/echo/x")
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    r = await gateway.client.get("/api/v1/echo/x", headers={"authorization": "Bearer abc"})
    assert r.status_code == 401


async def test_upstream_failures_are_problems(gateway) -> None:
    h = await admin_headers(gateway)
    down = await gateway.client.get("/api/v1/down/x", headers=h)
    assert down.status_code == 502 and down.json()["title"] == "Bad gateway"
    slow = await gateway.client.get("/api/v1/slow/x", headers=h)
    assert slow.status_code == 504
    for _ in range(3):
        assert (await gateway.client.get("/api/v1/broken/x", headers=h)).status_code == 500
    opened = await gateway.client.get("/api/v1/broken/x", headers=h)
    assert opened.status_code == 503 and opened.headers["retry-after"]
    unknown = await gateway.client.get("/api/v1/nosuch/x", headers=h)
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"


async def test_platform_readiness_lists_components(gateway) -> None:
    r = await gateway.client.get("/health/ready")
    assert r.status_code == 503  # the 'down' upstream is not there
    components = r.json()["components"]
    assert components["down"]["state"] == "unreachable"
    assert components["broker"]["state"] == "ok" and components["gateway"]["state"] == "ok"
