"""What the gateway audits (sign-in attempts, refusals here and from the services behind
it) leaves as ``zhanli.gateway.request_audited.v1`` events on the broker, through a
bounded buffer that never blocks a request and counts what it drops."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import zhanli_gateway
from zhanli_gateway.audit.publisher import AuditEvents
from zhanli_gateway.main import create_app
from zhanli_gateway.proxy import ProxyApp
from zhanli_gateway.settings import GatewaySettings
from zhanli_shared.events.contracts.gateway import RequestAudited
from zhanli_shared.events.kafka import ensure_topics, make_consumer
from zhanli_shared.settings import ServiceSettings
from zhanli_shared.testing.broker import TansuBroker, free_port
from zhanli_shared.testing.plugin import DatabaseTarget, eventually
from zhanli_shared.testing.services import (
    RunningService,
    running_service,
    service_settings,
    serving,
)

ADMIN_PASSWORD = "audit-events-密码"
TOPIC = RequestAudited.topic_name()


async def refuse(request: Request) -> Response:
    return JSONResponse({"detail": "not yours"}, status_code=403)


async def hide(request: Request) -> Response:
    """A service answering an out-of-scope id like an unknown one (``OutOfScope``)."""
    from zhanli_shared.errors import DENIED_HEADER, PROBLEM_JSON, problem_document

    body = problem_document(404, "Not found", "Unknown person 'E1'.", code="not-found")
    return JSONResponse(
        body, status_code=404, media_type=PROBLEM_JSON, headers={DENIED_HEADER: "scope"}
    )


async def sign_in(request: Request) -> Response:  # stands in for the people service
    body = await request.json()
    if body.get("username") == "admin" and body.get("password") == ADMIN_PASSWORD:
        return JSONResponse({"access_token": "t", "token_type": "bearer", "expires_in": 60})
    return JSONResponse({"title": "Unauthorized", "status": 401}, status_code=401)


@contextlib.asynccontextmanager
async def upstream_server() -> AsyncIterator[int]:
    app = Starlette(
        routes=[
            Route("/api/v1/hooks/hidden/{rest:path}", hide, methods=["GET"]),
            Route("/api/v1/hooks/{rest:path}", refuse, methods=["GET"]),
            Route("/api/v1/auth/api-keys", refuse, methods=["GET"]),
            Route("/api/v1/auth/token", sign_in, methods=["POST"]),
        ]
    )
    port = free_port()
    async with serving(app, port):
        yield port


@pytest.fixture(scope="module")
async def gateway(
    db_backend: str, broker, keypair, issuer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningService]:
    target = DatabaseTarget(db_backend, tmp_path_factory.mktemp("audit-events"), "gateway")
    async with upstream_server() as port:
        settings = service_settings(
            GatewaySettings,
            target,
            broker,
            keypair[1],
            auth_private_key=SecretStr(keypair[0]),
            upstreams={"svc": f"http://127.0.0.1:{port}", "people": f"http://127.0.0.1:{port}"},
            routes={"hooks": "svc", "nowhere": "missing", "auth": "people"},
        )
        async with running_service(
            create_app, settings, Path(zhanli_gateway.__file__).parent / "migrations", issuer
        ) as svc:
            yield svc
    await target.cleanup()


async def events_where(
    settings: ServiceSettings, wanted: Callable[[dict[str, Any]], bool], count: int
) -> list[dict[str, Any]]:
    """The CloudEvents of the topic matching ``wanted`` (read from the start)."""
    consumer = make_consumer(settings, [TOPIC], f"test-audit-events-{uuid.uuid4().hex[:8]}")
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:

        async def enough() -> list[dict[str, Any]] | None:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    event = json.loads(record.value)
                    if wanted(event):
                        found.append(event)
            return found if len(found) >= count else None

        return await eventually(enough, timeout_s=30)
    finally:
        await consumer.stop()


async def test_sign_ins_and_refusals_are_published_never_with_the_password(gateway) -> None:
    bad = await gateway.client.post(
        "/api/v1/auth/token",
        json={"username": "admin", "password": "wrong-guess"},
        headers={"x-request-id": "rid-audit-bad"},
    )
    assert bad.status_code == 401
    good = await gateway.client.post(
        "/api/v1/auth/token",
        json={"username": "admin", "password": ADMIN_PASSWORD},
        headers={"x-request-id": "rid-audit-good"},
    )
    assert good.status_code == 200
    subject = f"S{uuid.uuid4().hex[:6]}"
    seller = gateway.auth(subject, ["salesperson"])
    own = await gateway.client.get("/api/v1/auth/api-keys", headers=seller)  # the people service
    assert own.status_code == 403
    behind = await gateway.client.get("/api/v1/hooks/x", headers=seller)  # routed to "svc"
    assert behind.status_code == 403 and behind.json() == {"detail": "not yours"}
    ignored = await gateway.client.get("/api/v1/nowhere/x", headers=seller)
    assert ignored.status_code == 404  # a route to an upstream not configured: no route

    login = await events_where(
        gateway.settings,
        lambda e: e["data"]["request_id"] in ("rid-audit-bad", "rid-audit-good"),
        2,
    )
    by_rid = {e["data"]["request_id"]: e for e in login}
    failed, succeeded = by_rid["rid-audit-bad"], by_rid["rid-audit-good"]
    assert failed["type"] == TOPIC and failed["source"] == "zhanli/gateway"
    assert failed["data"]["outcome"] == "login_failed"
    assert failed["data"]["actor_id"] == "admin" and failed["data"]["actor_kind"] == "anonymous"
    assert failed["data"]["status"] == 401 and failed["data"]["source_ip"] == "127.0.0.1"
    assert succeeded["data"]["outcome"] == "login_succeeded"
    assert succeeded["data"]["actor_kind"] == "user"
    assert "wrong-guess" not in json.dumps(login) and ADMIN_PASSWORD not in json.dumps(login)
    RequestAudited.model_validate(failed["data"])

    denied = await events_where(gateway.settings, lambda e: e["data"]["actor_id"] == subject, 2)
    paths = sorted(e["data"]["path"] for e in denied)
    assert paths == ["/api/v1/auth/api-keys", "/api/v1/hooks/x"]
    for event in denied:
        data = event["data"]
        assert data["outcome"] == "denied" and data["status"] == 403
        assert data["roles"] == ["salesperson"] and data["method"] == "GET"


async def test_an_out_of_scope_404_is_audited_as_denied_and_looks_unknown(gateway) -> None:
    """A service answers an id out of the caller's scope with the 404 of an unknown id and
    an internal marker header: the client gets a plain 404 (no marker, so it cannot tell
    the two apart), the audit gets a denial."""
    subject = f"S{uuid.uuid4().hex[:6]}"
    seller = gateway.auth(subject, ["salesperson"])
    r = await gateway.client.get("/api/v1/hooks/hidden/E1", headers=seller)
    assert r.status_code == 404 and r.json()["detail"] == "Unknown person 'E1'."
    assert "x-zhanli-denied" not in r.headers
    (event,) = await events_where(gateway.settings, lambda e: e["data"]["actor_id"] == subject, 1)
    assert event["data"]["outcome"] == "denied" and event["data"]["status"] == 404
    assert event["data"]["path"] == "/api/v1/hooks/hidden/E1"


def seen(n: int) -> RequestAudited:
    return RequestAudited(
        audit_id=uuid.uuid4().hex,
        occurred_at="2026-12-01T00:00:00+00:00",  # type: ignore[arg-type]
        outcome="denied",
        actor_id=f"A{n}",
        actor_kind="user",
        method="GET",
        path="/api/v1/x",
        status=403,
    )


async def test_a_full_buffer_drops_and_counts_and_never_blocks(broker) -> None:
    down = ServiceSettings(kafka_bootstrap_servers=f"127.0.0.1:{free_port()}")
    events = AuditEvents(down, max_buffered=3, stop_flush_s=0.2)
    await events.start()

    accepted = [events.publish(seen(n)) for n in range(5)]  # no await: never blocks
    assert accepted == [True, True, True, False, False]
    assert events.buffered == 3 and events.dropped == 2
    await events.stop()  # the broker never came: what is left is counted, not hidden
    assert events.dropped == 5 and events.buffered == 0 and events.published == 0

    # With a broker, everything queued arrives, in order.
    up = ServiceSettings(kafka_bootstrap_servers=broker.bootstrap)
    events = AuditEvents(up, max_buffered=100)
    await events.start()
    mine = [seen(n) for n in range(3)]
    for fact in mine:
        assert events.publish(fact)
    await eventually(lambda: events.published == 3 or None, timeout_s=30)
    await events.stop()
    ids = {f.audit_id for f in mine}
    found = await events_where(up, lambda e: e["data"]["audit_id"] in ids, 3)
    assert {e["data"]["audit_id"] for e in found} == ids and events.dropped == 0


async def test_the_gateway_consumes_no_topic_and_keeps_no_audit_or_webhook_table(
    gateway,
) -> None:
    assert gateway.runtime.consumers == []
    tables = set(gateway.runtime.tables.outbox.metadata.tables)
    assert not {t for t in tables if "audit" in t or "webhook" in t}, tables


async def test_events_a_restarted_broker_forgot_are_sent_again(tmp_path: Path) -> None:
    own = TansuBroker(log_path=tmp_path / "tansu.log").start()
    events = None
    try:
        settings = ServiceSettings(kafka_bootstrap_servers=own.bootstrap)
        await ensure_topics(settings, [TOPIC])
        events = AuditEvents(settings, epoch_check_interval_s=0.2)
        await events.start()
        mine = [seen(n) for n in range(3)]
        for fact in mine:
            assert events.publish(fact)
        await eventually(lambda: (events.published >= 3 and events.epoch) or None, timeout_s=30)
        first_epoch = events.epoch
        assert own.proc is not None
        own.proc.kill()  # memory storage: everything it had acknowledged is gone
        own.proc.wait(5)
        own.start()
        await ensure_topics(settings, [TOPIC])
        await eventually(lambda: events.resent >= 3 or None, timeout_s=60)
        assert events.epoch != first_epoch
        ids = {f.audit_id for f in mine}
        found = await events_where(settings, lambda e: e["data"]["audit_id"] in ids, 3)
        assert {e["data"]["audit_id"] for e in found} == ids and events.dropped == 0
    finally:
        if events is not None:
            await events.stop()
        own.stop()


def test_routes_send_a_segment_to_another_upstream() -> None:
    proxy = ProxyApp(
        {"audit": "http://a", "kpi": "http://k"},
        verifier=None,
        routes={"webhooks": "audit", "ghost": "nobody"},
    )
    assert proxy.service_of("/api/v1/webhooks/subscriptions") == "audit"
    assert proxy.service_of("/api/v1/audit/entries") == "audit"
    assert proxy.service_of("/api/v1/kpi/x") == "kpi"
    assert proxy.service_of("/api/v1/ghost/x") is None
    assert proxy.service_of("/api/v1/directory/x") is None
