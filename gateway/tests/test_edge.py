"""The gateway's edge: rate limits, body size limits, CORS and security headers.

Most tests drive ``EdgeMiddleware`` around a tiny ASGI app (a fake clock, no sleeping);
the last ones go through the real gateway to prove it is wired around everything.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import zhanli_gateway
from zhanli_gateway.edge import API_CSP, EdgeMiddleware, TokenBucket
from zhanli_gateway.main import create_app
from zhanli_gateway.settings import GatewaySettings
from zhanli_shared.auth import TokenIssuer, TokenVerifier, generate_rsa_keypair
from zhanli_shared.testing.broker import free_port
from zhanli_shared.testing.plugin import TEST_AUDIENCE, TEST_ISSUER, DatabaseTarget
from zhanli_shared.testing.services import (
    RunningService,
    running_service,
    service_settings,
    serving,
)

ADMIN_ORIGIN = "https://admin.zhanli.example"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class TinyApp:
    """Reads the whole body (as a real handler would) and answers its length."""

    def __init__(self) -> None:
        self.calls = 0
        self.received = 0
        self.headers: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        self.calls += 1
        more = True
        while more:
            message = await receive()
            self.received += len(message.get("body", b""))
            more = message.get("more_body", False)
        body = b'{"ok":true}'
        await send({"type": "http.response.start", "status": 200, "headers": list(self.headers)})
        await send({"type": "http.response.body", "body": body})


def settings(**overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "rate_limit_user_per_s": 1.0,
        "rate_limit_user_burst": 3,
        "rate_limit_integration_per_s": 10.0,
        "rate_limit_integration_burst": 6,
        "rate_limit_anonymous_per_s": 1.0,
        "rate_limit_anonymous_burst": 2,
        "rate_limit_login_per_s": 0.1,
        "rate_limit_login_burst": 2,
        "body_limit_bytes": 1000,
        "body_limit_by_path": {"/api/v1/talent/resumes": 5000},
        "cors_allowed_origins": [ADMIN_ORIGIN],
    }
    values.update(overrides)
    return GatewaySettings(**values)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def verifier(keypair: tuple[str, str]) -> TokenVerifier:
    return TokenVerifier(
        issuer=TEST_ISSUER, audience=TEST_AUDIENCE, algorithms=["RS256"], public_key=keypair[1]
    )


def edge(app: Any, verifier: TokenVerifier | None, clock: FakeClock, **overrides: Any):
    return EdgeMiddleware(app, settings(**overrides), verifier=verifier, clock=clock)


def client(app: Any, ip: str = "10.0.0.1") -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(ip, 4321)), base_url="http://gw"
    )


def bearer(issuer: TokenIssuer, subject: str, roles: list[str] = ("salesperson",)) -> dict:  # type: ignore[assignment]
    return {"authorization": "Bearer " + issuer.issue(subject, roles)}


# --- the token bucket itself ---------------------------------------------------------


def test_bucket_spends_the_burst_then_refills_at_the_rate(clock: FakeClock) -> None:
    bucket = TokenBucket("t", rate=2.0, burst=3, clock=clock)
    assert [bucket.take("a") for _ in range(3)] == [2.0, 1.0, 0.0]
    wait = bucket.take("a")
    assert wait == pytest.approx(-0.5)  # the next token in half a second
    clock.advance(0.5)
    assert bucket.take("a") == pytest.approx(0.0)
    clock.advance(100)
    assert bucket.take("a") == 2.0  # never more than the burst


def test_bucket_memory_is_bounded_and_idle_buckets_go_first(clock: FakeClock) -> None:
    bucket = TokenBucket("t", rate=1.0, burst=5, max_buckets=100, clock=clock)
    for i in range(10_000):
        bucket.take(f"10.1.{i // 256}.{i % 256}")
        assert len(bucket) <= 100
    assert len(bucket) == 100
    clock.advance(5)  # all idle long enough to be full again: forgetting them changes nothing
    bucket.take("newcomer")
    assert len(bucket) == 1
    # the least recently seen is evicted, not the busy one
    small = TokenBucket("t", rate=1.0, burst=5, max_buckets=2, clock=clock)
    small.take("busy")
    small.take("other")
    small.take("busy")
    small.take("third")
    assert small.take("busy") == 2.0  # still its own bucket: 5 - 3 spent
    assert len(small) == 2


# --- rate limits ----------------------------------------------------------------------


async def test_429_after_the_burst_with_retry_after(issuer, verifier, clock) -> None:
    app = TinyApp()
    async with client(edge(app, verifier, clock)) as c:
        h = bearer(issuer, "E0011")
        seen = []
        for _ in range(3):
            r = await c.get("/api/v1/kpi/x", headers=h)
            assert r.status_code == 200
            seen.append(r.headers["ratelimit-remaining"])
        assert seen == ["2", "1", "0"] and r.headers["ratelimit-limit"] == "3"
        r = await c.get("/api/v1/kpi/x", headers=h)
        assert r.status_code == 429
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["status"] == 429 and r.json()["type"].endswith("/rate-limited")
        assert r.headers["retry-after"] == "1"
        assert r.headers["ratelimit-remaining"] == "0"
        assert r.headers["x-frame-options"] == "DENY"  # edge answers get the headers too
        assert app.calls == 3
        clock.advance(0.4)
        r = await c.get("/api/v1/kpi/x", headers=h)
        assert r.status_code == 429 and r.headers["retry-after"] == "1"  # >= 1, an integer
        clock.advance(0.6)
        assert (await c.get("/api/v1/kpi/x", headers=h)).status_code == 200


async def test_each_subject_has_its_own_bucket_and_integrations_more(
    issuer, verifier, clock
) -> None:
    app = TinyApp()
    async with client(edge(app, verifier, clock)) as c:
        for _ in range(3):
            await c.get("/api/v1/kpi/x", headers=bearer(issuer, "E0011"))
        assert (await c.get("/api/v1/kpi/x", headers=bearer(issuer, "E0011"))).status_code == 429
        # same IP, another subject (a new token of it, too): its own full bucket
        r = await c.get("/api/v1/kpi/x", headers=bearer(issuer, "E0012"))
        assert r.status_code == 200 and r.headers["ratelimit-remaining"] == "2"
        crm = bearer(issuer, "crm", ["integration"])
        codes = [(await c.get("/api/v1/commission/p", headers=crm)).status_code for _ in range(7)]
        assert codes == [200] * 6 + [429]


async def test_an_unverified_subject_is_never_trusted(keypair, issuer, verifier, clock) -> None:
    forger = TokenIssuer(generate_rsa_keypair()[0], issuer=TEST_ISSUER, audience=TEST_AUDIENCE)
    app = TinyApp()
    async with client(edge(app, verifier, clock)) as c:
        forged = bearer(forger, "E0011")  # claims E0011, signed by someone else
        codes = [(await c.get("/api/v1/kpi/x", headers=forged)).status_code for _ in range(3)]
        assert codes == [200, 200, 429]  # counted per IP, anonymous class (burst 2)
        r = await c.get("/api/v1/kpi/x", headers=bearer(issuer, "E0011"))
        assert r.status_code == 200 and r.headers["ratelimit-remaining"] == "2"


async def test_login_is_stricter_and_per_ip_whatever_the_request_carries(
    issuer, verifier, clock
) -> None:
    mw = edge(TinyApp(), verifier, clock)
    async with client(mw, "10.0.0.7") as c, client(mw, "10.0.0.8") as other:
        body = {"username": "admin", "password": "guess"}
        codes = [
            (
                await c.post("/api/v1/auth/token", json=body, headers=bearer(issuer, f"U{i}"))
            ).status_code
            for i in range(3)
        ]
        assert codes == [200, 200, 429]
        r = await c.post("/api/v1/auth/token", json=body)
        assert r.status_code == 429 and r.headers["retry-after"] == "10"  # 0.1 token/s
        assert (await other.post("/api/v1/auth/token", json=body)).status_code == 200
        # the rest of the API is not affected by the login bucket
        assert (await c.get("/api/v1/kpi/x", headers=bearer(issuer, "E1"))).status_code == 200


async def test_api_keys_are_keyed_by_their_hash(verifier, clock) -> None:
    mw = edge(TinyApp(), verifier, clock)
    async with client(mw) as c:
        k1 = {"x-api-key": "zk_live_first"}
        assert [(await c.get("/api/v1/x", headers=k1)).status_code for _ in range(4)] == [
            200,
            200,
            200,
            429,
        ]
        assert (
            await c.get("/api/v1/x", headers={"x-api-key": "zk_live_second"})
        ).status_code == 200
    assert len(mw.api_keys) == 2
    assert all(isinstance(k, bytes) and b"zk_live" not in k for k in mw.api_keys._buckets)


async def test_health_is_never_throttled_and_limits_can_be_off(clock) -> None:
    async with client(edge(TinyApp(), None, clock)) as c:
        for _ in range(10):
            r = await c.get("/health/ready")
            assert r.status_code == 200 and "ratelimit-limit" not in r.headers
    async with client(edge(TinyApp(), None, clock, rate_limit_enabled=False)) as c:
        assert {(await c.get("/api/v1/x")).status_code for _ in range(10)} == {200}


async def test_rate_limit_memory_stays_under_the_cap(issuer, verifier, clock) -> None:
    mw = edge(TinyApp(), verifier, clock, rate_limit_max_buckets=50)
    for i in range(300):
        async with client(mw, f"10.9.{i // 200}.{i % 200}") as c:
            await c.get("/api/v1/x")
    tokens = [bearer(issuer, f"E{i:04d}") for i in range(120)]
    async with client(mw) as c:
        for h in tokens:
            assert (await c.get("/api/v1/x", headers=h)).status_code == 200
    assert len(mw.anonymous) <= 50 and len(mw.users) <= 50


# --- body size ------------------------------------------------------------------------


async def test_413_for_a_declared_length_over_the_limit(clock) -> None:
    app = TinyApp()
    async with client(edge(app, None, clock, rate_limit_enabled=False)) as c:
        r = await c.post("/api/v1/talent/candidates", content=b"x" * 1001)
        assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
        assert "1000 bytes" in r.json()["detail"]
        assert app.calls == 0
        assert (await c.post("/api/v1/talent/candidates", content=b"x" * 1000)).status_code == 200
        # an upload path has its own, larger limit
        ok = await c.post("/api/v1/talent/resumes/R1", content=b"x" * 4000)
        assert ok.status_code == 200 and app.received == 5000
        assert (await c.post("/api/v1/talent/resumes/R1", content=b"x" * 5001)).status_code == 413
    sent: list[dict] = []

    async def collect(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/x",
        "headers": [(b"content-length", b"lots")],
        "client": ("10.0.0.1", 1),
    }
    await edge(app, None, clock)(scope, None, collect)
    assert sent[0]["status"] == 400 and app.calls == 2  # never reached the app


async def test_413_for_a_chunked_body_that_grows_too_large(clock) -> None:
    app = TinyApp()
    chunks_sent = 0

    async def body(n: int):
        nonlocal chunks_sent
        for _ in range(n):
            chunks_sent += 1
            yield b"y" * 300

    async with client(edge(app, None, clock)) as c:
        r = await c.post("/api/v1/talent/candidates", content=body(10))
        assert r.status_code == 413 and r.json()["status"] == 413
        assert r.headers["x-content-type-options"] == "nosniff"
        assert app.received <= 900  # the app never saw the chunk that crossed the limit
        ok = await c.post("/api/v1/talent/candidates", content=body(3))
        assert ok.status_code == 200 and app.received == 900 + 900


async def test_a_fastapi_handler_reading_a_too_large_stream_gets_413_not_500(clock) -> None:
    from fastapi import FastAPI

    api = FastAPI()

    @api.post("/upload")
    async def upload(request: Request) -> dict:
        return {"length": len(await request.body())}

    async def body():
        for _ in range(5):
            yield b"z" * 400

    async with client(edge(api, None, clock)) as c:
        r = await c.post("/upload", content=body())
        assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"


# --- CORS -----------------------------------------------------------------------------


async def test_preflight_from_the_admin_console_is_answered_here(clock) -> None:
    app = TinyApp()
    async with client(edge(app, None, clock)) as c:
        r = await c.options(
            "/api/v1/commission/payments",
            headers={
                "origin": ADMIN_ORIGIN,
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type",
            },
        )
        assert r.status_code == 204
        assert r.headers["access-control-allow-origin"] == ADMIN_ORIGIN
        assert "POST" in r.headers["access-control-allow-methods"]
        assert "authorization" in r.headers["access-control-allow-headers"]
        assert r.headers["access-control-max-age"] == "600"
        assert r.headers["vary"] == "Origin"
        assert "access-control-allow-credentials" not in r.headers
        refused = await c.options(
            "/api/v1/commission/payments",
            headers={"origin": "https://evil.example", "access-control-request-method": "POST"},
        )
        assert refused.status_code == 403
        assert "access-control-allow-origin" not in refused.headers
        assert app.calls == 0  # neither reached the app behind
        simple = await c.get("/api/v1/x", headers={"origin": ADMIN_ORIGIN})
        assert simple.headers["access-control-allow-origin"] == ADMIN_ORIGIN
        assert "ratelimit-remaining" in simple.headers["access-control-expose-headers"].lower()
        other = await c.get("/api/v1/x", headers={"origin": "https://evil.example"})
        assert other.status_code == 200 and "access-control-allow-origin" not in other.headers
    async with client(edge(TinyApp(), None, clock, cors_allowed_origins=[])) as c:
        r = await c.options(
            "/api/v1/x", headers={"origin": ADMIN_ORIGIN, "access-control-request-method": "GET"}
        )
        assert r.status_code == 403  # no origins configured: no browser callers at all


async def test_credentials_only_with_named_origins(clock) -> None:
    with pytest.raises(ValueError, match="credentials"):
        edge(TinyApp(), None, clock, cors_allowed_origins=["*"], cors_allow_credentials=True)
    async with client(edge(TinyApp(), None, clock, cors_allow_credentials=True)) as c:
        r = await c.get("/api/v1/x", headers={"origin": ADMIN_ORIGIN})
        assert r.headers["access-control-allow-origin"] == ADMIN_ORIGIN
        assert r.headers["access-control-allow-credentials"] == "true"


# --- security headers -----------------------------------------------------------------


async def test_security_headers_on_every_response(clock) -> None:
    app = TinyApp()
    async with client(edge(app, None, clock, rate_limit_enabled=False)) as c:
        r = await c.get("/api/v1/x")
        for name, value in SECURITY_HEADERS.items():
            assert r.headers[name] == value
        assert r.headers["strict-transport-security"].startswith("max-age=31536000")
        assert r.headers["content-security-policy"] == API_CSP.decode()
        assert r.headers["cache-control"] == "no-store"
        docs = await c.get("/docs")
        from zhanli_gateway.settings import docs_origins

        assert docs_origins() and all(
            o in docs.headers["content-security-policy"] for o in docs_origins()
        )
        assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]
        app.headers.append((b"Cache-Control", b"public, max-age=60"))
        cached = await c.get("/.well-known/jwks.json")
        assert cached.headers.get_list("cache-control") == ["public, max-age=60"]
    async with client(edge(TinyApp(), None, clock, hsts_enabled=False, docs_csp="")) as c:
        r = await c.get("/docs")
        assert "strict-transport-security" not in r.headers
        assert r.headers["content-security-policy"] == API_CSP.decode()


@contextlib.asynccontextmanager
async def upstream() -> AsyncIterator[tuple[int, dict[str, int]]]:
    seen = {"requests": 0, "bytes": 0, "aborted": 0}

    async def echo(request: Request) -> Response:
        seen["requests"] += 1
        length = 0
        try:
            async for chunk in request.stream():
                length += len(chunk)
        except ClientDisconnect:  # the gateway aborted a body that grew too large
            seen["aborted"] += 1
            return Response(status_code=499)
        seen["bytes"] += length
        return JSONResponse({"length": length})

    async def sign_in(request: Request) -> Response:  # stands in for the people service
        return JSONResponse({"access_token": "t", "token_type": "bearer", "expires_in": 60})

    app = Starlette(
        routes=[
            Route("/api/v1/echo/{rest:path}", echo, methods=["GET", "POST"]),
            Route("/api/v1/auth/token", sign_in, methods=["POST"]),
        ]
    )
    port = free_port()
    async with serving(app, port):
        yield port, seen


@pytest.fixture(scope="module")
async def gateway(
    db_backend: str, broker, keypair, issuer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[RunningService, dict[str, int]]]:
    target = DatabaseTarget(db_backend, tmp_path_factory.mktemp("edge"), "gateway")
    async with upstream() as (port, seen):
        s = service_settings(
            GatewaySettings,
            target,
            broker,
            keypair[1],
            auth_private_key=SecretStr(keypair[0]),
            upstreams={"echo": f"http://127.0.0.1:{port}", "people": f"http://127.0.0.1:{port}"},
            rate_limit_login_burst=2,
            rate_limit_login_per_s=0.01,
            body_limit_bytes=100_000,
            cors_allowed_origins=[ADMIN_ORIGIN],
            breaker_failure_threshold=2,
        )
        async with running_service(
            create_app, s, Path(zhanli_gateway.__file__).parent / "migrations", issuer
        ) as svc:
            yield svc, seen
    await target.cleanup()


async def test_the_real_gateway_is_wrapped(gateway) -> None:
    gw, seen = gateway
    c = gw.client
    assert isinstance(gw.app, EdgeMiddleware)
    h = gw.auth("E0011", ["salesperson"])
    proxied = await c.get("/api/v1/echo/x", headers=h)
    local = await c.get("/health/live")
    for r in (proxied, local):
        assert r.status_code == 200
        for name, value in SECURITY_HEADERS.items():
            assert r.headers[name] == value
        assert r.headers["content-security-policy"] == API_CSP.decode()
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["x-request-id"]
    assert proxied.headers["ratelimit-limit"] == "500"  # the default user class
    before = seen["requests"]
    pre = await c.options(
        "/api/v1/echo/x",
        headers={"origin": ADMIN_ORIGIN, "access-control-request-method": "POST"},
    )
    assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == ADMIN_ORIGIN
    assert seen["requests"] == before  # never reached the upstream


async def test_the_real_gateway_limits_logins_and_bodies(gateway) -> None:
    gw, seen = gateway
    c = gw.client
    creds = {"username": "admin", "password": "edge-admin-pass"}
    codes = [(await c.post("/api/v1/auth/token", json=creds)).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    h = gw.auth("E0011", ["salesperson"])
    before = dict(seen)
    too_big = await c.post("/api/v1/echo/upload", headers=h, content=b"x" * 100_001)
    assert too_big.status_code == 413 and seen == before

    async def stream():
        for _ in range(40):
            yield b"x" * 5000

    for _ in range(3):  # more than the breaker threshold: the upstream is not to blame
        r = await c.post("/api/v1/echo/upload", headers=h, content=stream())
        assert r.status_code == 413, r.text
    assert seen["bytes"] == before["bytes"]  # no truncated body was ever accepted upstream
    ok = await c.post("/api/v1/echo/upload", headers=h, content=b"x" * 50_000)
    assert ok.status_code == 200 and ok.json() == {"length": 50_000}
    assert gw.app.proxy.breakers["echo"].state == "closed"
