"""Run one service in-process for tests: migrated by Alembic, lifespan started (relay and
consumers on the real broker), reached through an httpx client."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from zhanli_shared.auth import TokenIssuer
from zhanli_shared.crypto import KeyRing
from zhanli_shared.events.outbox import Publisher
from zhanli_shared.migrations import upgrade
from zhanli_shared.runtime import Mode
from zhanli_shared.settings import ServiceSettings
from zhanli_shared.testing.plugin import TEST_AUDIENCE, TEST_ISSUER, DatabaseTarget


@dataclass
class RunningService:
    app: Any
    client: httpx.AsyncClient
    settings: ServiceSettings
    issuer: TokenIssuer

    @property
    def runtime(self) -> Any:
        app = self.app
        while not hasattr(app, "state") and hasattr(app, "api"):
            app = app.api
        return app.state.runtime

    def auth(self, subject: str, roles: list[str], org_units: list[str] = ()) -> dict[str, str]:  # type: ignore[assignment]
        return {"authorization": "Bearer " + self.issuer.issue(subject, roles, org_units=org_units)}

    def metrics_text(self) -> str:
        """What Prometheus would scrape from this process (its metrics listener when one
        runs, else the same registry read in-process): the API port never serves it."""
        listener = self.runtime.metrics_listener
        if listener is not None:
            return httpx.get(f"http://{listener.host}:{listener.port}/metrics", timeout=10).text
        from zhanli_shared.observability import metrics_response_body

        return metrics_response_body()[0].decode()

    async def publish(self, event: Any) -> None:
        """Publish an event as if another service did (outbox of this one, then relay)."""
        runtime = self.runtime
        async with runtime.sessions() as session:
            await Publisher(runtime.tables, "zhanli/test").publish(session, event)
            await session.commit()
        runtime.wake_relay()


def service_settings(
    settings_cls: type[ServiceSettings],
    target: DatabaseTarget,
    broker: Any,
    public_pem: str,
    **overrides: Any,
) -> ServiceSettings:
    values: dict[str, Any] = {
        "database_url": target.url,
        "kafka_bootstrap_servers": broker.bootstrap,
        "auth_issuer": TEST_ISSUER,
        "auth_audience": TEST_AUDIENCE,
        "auth_public_key": public_pem,
        "relay_poll_interval_s": 0.1,
        "consumer_retry_backoff_s": 0.01,
        "log_json": True,
        "log_level": "WARNING",
        "consumer_session_timeout_ms": 6_000,
        "consumer_heartbeat_interval_ms": 1_000,
        "data_keys": KeyRing.generate("test1").to_text(),
        # A group of its own: a new member of a group just left waits for a rebalance.
        "consumer_group_id": f"test-{settings_cls.service_name}-{uuid.uuid4().hex[:8]}",
    }
    if target.schema:
        values["database_schema"] = target.schema
    values.update(overrides)
    return settings_cls(**values)


@contextlib.asynccontextmanager
async def running_service(
    create_app: Callable[..., Any],
    settings: ServiceSettings,
    migrations_dir: Path,
    issuer: TokenIssuer,
    mode: Mode = Mode.SERVE,
) -> AsyncIterator[RunningService]:
    from zhanli_shared.events.kafka import dead_letter_topic, ensure_topics
    from zhanli_shared.topics import platform_topics

    await ensure_topics(settings, [*platform_topics(), dead_letter_topic(settings.consumer_group)])
    await asyncio.to_thread(upgrade, settings, migrations_dir)
    app = create_app(settings, mode)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield RunningService(app=app, client=client, settings=settings, issuer=issuer)


@contextlib.asynccontextmanager
async def serving(app: Any, port: int, **config: Any) -> AsyncIterator[Any]:
    """An ASGI app served by uvicorn on a real port of 127.0.0.1 for the block (for a peer
    that reaches it over HTTP: the gateway's proxy, a verifier's discovery). The stop is
    bounded like the real one (``cli.service_main``): open connections get 5 s, then go."""
    import uvicorn

    config = {"log_level": "warning", "timeout_graceful_shutdown": 5, **config}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **config))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # it could not start: say why
            raise RuntimeError(f"uvicorn on port {port} stopped before it started")
        await asyncio.sleep(0.02)
    try:
        yield server
    finally:
        server.should_exit = True
        await task


async def check_service_basics(svc: RunningService) -> None:
    """What every service must do from day one: health, readiness (database and broker),
    metrics, problem+json for unknown paths, and projecting the directory's people."""
    from sqlalchemy import select

    from zhanli_shared.directory import PeopleProjection
    from zhanli_shared.events.contracts.directory import EmployeeUpserted
    from zhanli_shared.testing.plugin import eventually

    assert (await svc.client.get("/health/live")).json() == {"status": "ok"}
    ready = await svc.client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
    assert "zhanli_http_requests_total" in svc.metrics_text()
    public = await svc.client.get("/metrics")  # never on the API port
    assert public.status_code == 404
    assert public.headers["content-type"] == "application/problem+json"
    missing = await svc.client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    employee_id = f"E{uuid.uuid4().hex[:8]}"
    await svc.publish(
        EmployeeUpserted(
            employee_id=employee_id,
            name="周杰",
            org_unit_id="T9",
            org_path=["G1", "T9"],
            job_role="salesperson",
            roles=["salesperson"],
        )
    )
    people_table = next(
        t
        for name, t in svc.runtime.tables.outbox.metadata.tables.items()
        if name.endswith("directory_people")
    )
    projection = PeopleProjection(people_table)

    async def projected():
        async with svc.runtime.sessions() as session:
            return await projection.get(session, employee_id)

    person = await eventually(projected)
    assert person.org_path == ["G1", "T9"] and person.name == "周杰"
    async with svc.runtime.sessions() as session:
        inbox = svc.runtime.tables.inbox
        rows = (await session.execute(select(inbox.c.topic))).scalars().all()
    assert "zhanli.directory.employee_upserted.v1" in rows
