"""The service runtime: engine, sessions, outbox publisher, relay, consumers, token verifier.

``create_service_app`` builds a FastAPI app around it; the same package runs the API, the
relay and the consumers in one process (embedded) or as separate processes (Kubernetes).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import MetaData, Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from zhanli_shared.auth import SubjectStatus, TokenVerifier
from zhanli_shared.crypto import FieldCipher
from zhanli_shared.db import (
    create_engine,
    create_read_engine,
    ping,
    read_session_factory,
    session_factory,
)
from zhanli_shared.errors import Conflict, install_problem_handlers
from zhanli_shared.events.consumer import ConsumerRunner, HandlerRegistry
from zhanli_shared.events.contracts.directory import EmploymentStatus
from zhanli_shared.events.kafka import broker_reachable
from zhanli_shared.events.outbox import EventTables, Publisher
from zhanli_shared.events.relay import OutboxRelay, count_parked
from zhanli_shared.observability import (
    MetricsListener,
    RequestContextMiddleware,
    configure_logging,
    metrics,
)
from zhanli_shared.settings import ServiceSettings

log = structlog.get_logger("zhanli.runtime")


async def bounded_stop(step: str, stop: Awaitable[Any], limit_s: float) -> bool:
    """Run one part of a stop for at most ``limit_s`` seconds; past that, cancel it, log
    ``service.stop_abandoned`` naming it and go on without waiting for it (a client library
    that swallows the cancellation cannot hold the process). True when it finished."""
    task = asyncio.ensure_future(stop)
    done, _ = await asyncio.wait({task}, timeout=limit_s)
    if done:
        if not task.cancelled() and task.exception() is not None:
            log.error("service.stop_failed", step=step, error=repr(task.exception()))
        return True
    task.cancel()
    log.error("service.stop_abandoned", step=step, waited_s=limit_s)
    return False


class Mode(StrEnum):
    SERVE = "serve"  # API + relay + consumers in one process (embedded default)
    API = "api"
    RELAY = "relay"
    CONSUME = "consume"


@dataclass
class Runtime:
    settings: ServiceSettings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    tables: EventTables
    publisher: Publisher
    verifier: TokenVerifier | None
    cipher: FieldCipher | None = None
    relay: OutboxRelay | None = None
    consumers: list[ConsumerRunner] = field(default_factory=list)
    metrics_listener: MetricsListener | None = None
    # Read sessions (ReadSessionDep): SQLite WAL readers beside the one writer connection,
    # PostgreSQL autocommit on the same pool. None: reads use ``sessions``.
    read_sessions: async_sessionmaker[AsyncSession] | None = None
    _broker_cache: tuple[float, bool] = (0.0, False)
    _parked_cache: tuple[float, int] = (0.0, 0)

    def wake_relay(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    async def parked_events(self) -> int:
        """Outbox rows set aside after the broker refused them (indexed; cached 2 s)."""
        stamp, count = self._parked_cache
        if time.monotonic() - stamp < 2.0:
            return count
        count = await count_parked(self.sessions, self.tables)
        metrics.outbox_parked.labels(self.settings.service_name).set(count)
        self._parked_cache = (time.monotonic(), count)
        return count

    async def broker_ok(self) -> bool:
        stamp, ok = self._broker_cache
        if time.monotonic() - stamp < 2.0:
            return ok
        if self.relay is not None and self.relay.connected:
            ok = True
        elif self.consumers and all(c.connected for c in self.consumers):
            ok = True
        else:
            ok = await broker_reachable(self.settings)
        self._broker_cache = (time.monotonic(), ok)
        return ok


async def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request, committed (business rows and outbox rows) before the
    response is sent, or rolled back whole."""
    runtime: Runtime = request.app.state.runtime
    async with runtime.sessions() as session:
        try:
            yield session
            await session.commit()
        except IntegrityError as exc:
            await session.rollback()
            raise Conflict("The request conflicts with data already stored.") from exc
        except BaseException:
            await session.rollback()
            raise
    if session.info.get("published"):
        runtime.wake_relay()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One read-only session per request: for routes that only read (GET of an entity, a
    statement, a board). On SQLite it never takes the write lock and never waits for the
    writer (a WAL snapshot); on PostgreSQL it opens no transaction (no BEGIN/COMMIT round
    trips). A flush or DML through it raises ``ReadOnlyViolation``: writes take SessionDep."""
    runtime: Runtime = request.app.state.runtime
    factory = runtime.read_sessions or runtime.sessions
    async with factory() as session:
        yield session


ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session, scope="function")]


async def get_publisher(request: Request) -> Publisher:
    return request.app.state.runtime.publisher


PublisherDep = Annotated[Publisher, Depends(get_publisher)]


async def get_cipher(request: Request) -> FieldCipher:
    """The personal-data cipher; a service that stores personal data needs data keys."""
    cipher = request.app.state.runtime.cipher
    if cipher is None:
        raise RuntimeError("no data keys configured (ZHANLI_DATA_KEYS_FILE or ZHANLI_DATA_KEYS)")
    return cipher


CipherDep = Annotated[FieldCipher, Depends(get_cipher)]


Readiness = Callable[[Request], Awaitable[JSONResponse]]


def health_router(readiness: Readiness | None = None) -> APIRouter:
    """Liveness and readiness (database and broker, or the caller's own check). Metrics are
    not here: they have a listener of their own (``settings.metrics_port``)."""
    router = APIRouter(tags=["health"])

    @router.get("/health/live", include_in_schema=False)
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/health/ready", include_in_schema=False)
    async def ready(request: Request) -> JSONResponse:
        if readiness is not None:
            return await readiness(request)
        runtime: Runtime = request.app.state.runtime
        checks: dict[str, Any] = {}
        try:
            await asyncio.wait_for(ping(runtime.engine), 2.0)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {type(exc).__name__}"
        checks["broker"] = "ok" if await runtime.broker_ok() else "unreachable"
        ok = all(v == "ok" for v in checks.values())
        body: dict[str, Any] = {"status": "ready" if ok else "not_ready", "checks": checks}
        # Parked events degrade the service without making it unready: it still serves and
        # publishes every other event; taking it out of rotation would turn one event the
        # broker refuses into an outage. The detail and zhanli_outbox_parked_rows say it.
        with contextlib.suppress(Exception):
            parked = await asyncio.wait_for(runtime.parked_events(), 2.0)
            if parked:
                checks["outbox"] = (
                    f"degraded: {parked} parked event(s); "
                    f"python -m zhanli_{runtime.settings.service_name} outbox list"
                )
                if ok:
                    body["status"] = "degraded"
        return JSONResponse(body, status_code=200 if ok else 503)

    return router


def departed_people(
    sessions: async_sessionmaker[AsyncSession], table: Table, refresh_s: float
) -> SubjectStatus:
    """Who has left, read from ``table`` (the directory, or its local projection)."""
    left = EmploymentStatus.LEFT.value

    async def load() -> list[str]:
        async with sessions() as session:
            rows = await session.execute(select(table.c.employee_id).where(table.c.status == left))
            return list(rows.scalars())

    return SubjectStatus(load, refresh_s=refresh_s)


def create_service_app(
    settings: ServiceSettings,
    *,
    metadata: MetaData,
    tables: EventTables,
    routers: Sequence[APIRouter] = (),
    registry: HandlerRegistry | None = None,
    mode: Mode = Mode.SERVE,
    title: str,
    version: str = "0.1.0",
    description: str = "",
    on_start: Callable[[FastAPI, Runtime], Awaitable[None]] | None = None,
    on_stop: Callable[[FastAPI, Runtime], Awaitable[None]] | None = None,
    readiness: Readiness | None = None,
    people_table: Table | None = None,
) -> FastAPI:
    """``people_table`` (``employee_id``, ``status``): where this service reads who has
    left, to refuse their tokens; default the local directory projection
    (``directory_people``) when the service keeps one."""
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    # Tables are created by migrations, never at start-up: the metadata only names them.
    if people_table is None:
        people_table = next(
            (t for t in metadata.tables.values() if t.name == "directory_people"), None
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(
            settings.database_url,
            schema=settings.database_schema,
            pool_size=settings.database_pool_size,
            echo=settings.database_echo,
        )
        sessions = session_factory(engine)
        read_engine = create_read_engine(
            settings.database_url,
            engine,
            pool_size=settings.database_pool_size,
            echo=settings.database_echo,
        )
        verifier = None
        if settings.auth_configured():
            verifier = TokenVerifier.from_settings(settings)
        cipher = None
        if settings.data_keys or settings.data_keys_file:
            cipher = FieldCipher.from_settings(settings)
        runtime = Runtime(
            settings=settings,
            engine=engine,
            sessions=sessions,
            tables=tables,
            publisher=Publisher(tables, source=f"zhanli/{settings.service_name}"),
            verifier=verifier,
            cipher=cipher,
            read_sessions=read_session_factory(read_engine),
        )
        app.state.runtime = runtime
        app.state.verifier = verifier
        if people_table is not None:
            app.state.subject_status = departed_people(
                sessions, people_table, settings.auth_status_refresh_s
            )
        if settings.metrics_port is not None:
            runtime.metrics_listener = MetricsListener(settings.metrics_host, settings.metrics_port)
        if mode in (Mode.SERVE, Mode.RELAY) and settings.relay_enabled:
            runtime.relay = OutboxRelay(settings, engine, sessions, tables)
            await runtime.relay.start()
        if (
            mode in (Mode.SERVE, Mode.CONSUME)
            and settings.consumer_enabled
            and registry
            and registry.handlers
        ):
            runner = ConsumerRunner(
                settings, sessions, tables, registry, after_commit=runtime.wake_relay
            )
            runtime.consumers.append(runner)
            await runner.start()
        if on_start is not None:
            await on_start(app, runtime)
        # What start-up built (routes, pydantic schemas, SQLAlchemy mappers: 100k+ objects)
        # lives as long as the process: freeze it so that the cyclic GC's full collections
        # stop walking it (each took 30-140 ms under load in the gateway, a pause for every
        # request and event in flight; measured in tests/bench/bench_gateway.py).
        gc.collect()
        gc.freeze()
        log.info(
            "service.started",
            mode=mode.value,
            port=settings.port,
            metrics_port=runtime.metrics_listener.port if runtime.metrics_listener else None,
        )
        try:
            yield
        finally:
            gc.unfreeze()  # an app stopped in a longer-lived process (tests) can be collected
            limit = settings.shutdown_step_timeout_s
            if on_stop is not None:
                await bounded_stop("on_stop", on_stop(app, runtime), limit)
            for runner in runtime.consumers:
                await bounded_stop(f"consumer {runner.group_id}", runner.stop(), limit)
            if runtime.relay is not None:
                await bounded_stop("relay", runtime.relay.stop(), limit)
            if read_engine.pool is not engine.pool:  # SQLite readers: a pool of their own
                await bounded_stop("read engine", read_engine.dispose(), limit)
            await bounded_stop("database engine", engine.dispose(), limit)
            if runtime.metrics_listener is not None:
                runtime.metrics_listener.close()
            log.info("service.stopped")

    app = FastAPI(
        title=title,
        version=version,
        description=description,
        lifespan=lifespan,
        docs_url="/docs" if mode in (Mode.SERVE, Mode.API) else None,
    )
    install_problem_handlers(app)
    app.add_middleware(RequestContextMiddleware, service=settings.service_name)
    app.include_router(health_router(readiness))
    if mode in (Mode.SERVE, Mode.API):
        for router in routers:
            app.include_router(router)
    return app
