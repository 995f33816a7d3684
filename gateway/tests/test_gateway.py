"""The gateway: built-in issuer, directory with change events, the proxy's failure modes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from sqlalchemy import select
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

ADMIN_PASSWORD = "s3cret-admin-密码"


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
            bootstrap_admin_password=SecretStr(ADMIN_PASSWORD),
            upstreams={
                "echo": up,
                "big": up,
                "slow": up,
                "broken": up,
                "down": f"http://127.0.0.1:{free_port()}",
            },
            upstream_read_timeout_s=0.5,
            breaker_failure_threshold=3,
            breaker_reset_s=30,
        )
        async with running_service(
            create_app, settings, Path(zhanli_gateway.__file__).parent / "migrations", issuer
        ) as svc:
            yield svc
    await target.cleanup()


async def login(gw: RunningService, username: str, password: str) -> httpx.Response:
    return await gw.client.post(
        "/api/v1/auth/token", json={"username": username, "password": password}
    )


async def admin_headers(gw: RunningService) -> dict[str, str]:
    r = await login(gw, "admin", ADMIN_PASSWORD)
    assert r.status_code == 200, r.text
    return {"authorization": "Bearer " + r.json()["access_token"]}


async def test_login_and_jwks(gateway) -> None:
    assert (await login(gateway, "admin", "wrong")).status_code == 401
    assert (await login(gateway, "nobody", ADMIN_PASSWORD)).status_code == 401
    r = await login(gateway, "admin", ADMIN_PASSWORD)
    principal = gateway.runtime.verifier.verify(r.json()["access_token"])
    assert principal.subject == "admin" and "hr_admin" in principal.roles
    jwks = (await gateway.client.get("/.well-known/jwks.json")).json()
    assert jwks["keys"][0]["kty"] == "RSA" and jwks["keys"][0]["kid"]


async def test_directory_writes_publish_events_and_scope_follows_the_tree(gateway) -> None:
    h = await admin_headers(gateway)
    units = [
        ("G1", "集团", "group", None, "GM"),
        ("B1", "华东分公司", "branch", "G1", None),
        ("T1", "销售一组", "team", "B1", "M1"),
        ("T2", "销售二组", "team", "B1", "M2"),
    ]
    for uid, name, kind, parent, manager in units:
        r = await gateway.client.put(
            f"/api/v1/directory/org-units/{uid}",
            headers=h,
            json={
                "org_unit_id": uid,
                "name": name,
                "kind": kind,
                "parent_id": parent,
                "manager_id": manager,
            },
        )
        assert r.status_code == 200, r.text
    assert (await gateway.client.get("/api/v1/directory/org-units", headers=h)).json()[2][
        "path"
    ] == ["G1", "B1", "T1"]
    people = [
        ("M1", "T1", "sales_manager"),
        ("S1", "T1", "salesperson"),
        ("S2", "T2", "salesperson"),
    ]
    for eid, unit, role in people:
        r = await gateway.client.put(
            f"/api/v1/directory/employees/{eid}",
            headers=h,
            json={
                "employee_id": eid,
                "name": f"员工{eid}",
                "org_unit_id": unit,
                "job_role": role,
                "roles": [role],
            },
        )
        assert r.status_code == 200, r.text
    outbox = gateway.runtime.tables.outbox
    async with gateway.runtime.sessions() as s:
        topics = (await s.execute(select(outbox.c.topic, outbox.c.key))).all()
    assert ("zhanli.directory.employee_upserted.v1", "S2") in topics
    assert ("zhanli.directory.org_unit_upserted.v1", "T1") in topics
    bad = await gateway.client.put(
        "/api/v1/directory/employees/S3",
        headers=h,
        json={"employee_id": "S3", "name": "x", "org_unit_id": "NOPE", "job_role": "salesperson"},
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "org_unit_id"
    r = await gateway.client.post(
        "/api/v1/auth/users",
        headers=h,
        json={
            "username": "m1",
            "password": "manager-pass",
            "employee_id": "M1",
            "roles": ["sales_manager"],
        },
    )
    assert r.status_code == 201, r.text
    token = (await login(gateway, "m1", "manager-pass")).json()["access_token"]
    mh = {"authorization": f"Bearer {token}"}
    seen = (await gateway.client.get("/api/v1/directory/employees", headers=mh)).json()
    assert {p["employee_id"] for p in seen["items"]} == {"M1", "S1"}
    assert (
        await gateway.client.get("/api/v1/directory/employees/S2", headers=mh)
    ).status_code == 403
    denied = await gateway.client.put(
        "/api/v1/directory/employees/S1",
        headers=mh,
        json={"employee_id": "S1", "name": "x", "org_unit_id": "T1", "job_role": "salesperson"},
    )
    assert denied.status_code == 403


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


async def test_personal_data_is_encrypted_at_rest_and_masked_by_role(gateway) -> None:
    from zhanli_gateway.directory.models import Employee

    h = await admin_headers(gateway)
    await gateway.client.put(
        "/api/v1/directory/org-units/PD",
        headers=h,
        json={"org_unit_id": "PD", "name": "隐私测试组", "kind": "team", "manager_id": "PDM"},
    )
    for eid, role in (("PDM", "sales_manager"), ("PDS", "salesperson")):
        r = await gateway.client.put(
            f"/api/v1/directory/employees/{eid}",
            headers=h,
            json={
                "employee_id": eid,
                "name": "孙悦",
                "org_unit_id": "PD",
                "job_role": role,
                "roles": [role],
                "phone": "13812345678",
                "id_number": "11010119900307123x",
            },
        )
        assert r.status_code == 200, r.text
        assert r.json()["phone"] == "13812345678"  # HR sees it whole
    bad = await gateway.client.put(
        "/api/v1/directory/employees/PDX",
        headers=h,
        json={
            "employee_id": "PDX",
            "name": "x",
            "org_unit_id": "PD",
            "job_role": "salesperson",
            "id_number": "12345",
        },
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.id_number"
    async with gateway.runtime.sessions() as s:
        stored = await s.get(Employee, "PDS")
        assert stored.phone_enc and "13812345678" not in stored.phone_enc
        assert stored.id_number_enc.startswith("zv1.")
    for username, eid, roles in (
        ("pdm", "PDM", ["sales_manager"]),
        ("pds", "PDS", ["salesperson"]),
    ):
        await gateway.client.post(
            "/api/v1/auth/users",
            headers=h,
            json={
                "username": username,
                "password": "password-1",
                "employee_id": eid,
                "roles": roles,
            },
        )
    mh = {
        "authorization": "Bearer "
        + (await login(gateway, "pdm", "password-1")).json()["access_token"]
    }
    seen = (await gateway.client.get("/api/v1/directory/employees/PDS", headers=mh)).json()
    assert seen["phone"] == "138****5678" and seen["id_number"] == "110101********123X"
    sh = {
        "authorization": "Bearer "
        + (await login(gateway, "pds", "password-1")).json()["access_token"]
    }
    own = (await gateway.client.get("/api/v1/directory/employees/PDS", headers=sh)).json()
    assert own["phone"] == "13812345678"


async def test_it_ops_cannot_grant_people_roles(gateway) -> None:
    h = await admin_headers(gateway)
    r = await gateway.client.post(
        "/api/v1/auth/users",
        headers=h,
        json={"username": "ops1", "password": "ops-password", "roles": ["it_ops"]},
    )
    assert r.status_code == 201, r.text
    ops = {
        "authorization": "Bearer "
        + (await login(gateway, "ops1", "ops-password")).json()["access_token"]
    }
    escalate = await gateway.client.post(
        "/api/v1/auth/users",
        headers=ops,
        json={"username": "evil", "password": "evil-password", "roles": ["hr_admin"]},
    )
    assert escalate.status_code == 403
    assert escalate.json()["errors"][0]["field"] == "roles"
    robot = await gateway.client.post(
        "/api/v1/auth/users",
        headers=ops,
        json={"username": "erp-sync", "password": "erp-password", "roles": ["integration"]},
    )
    assert robot.status_code == 201
