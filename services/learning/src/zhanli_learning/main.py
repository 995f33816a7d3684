"""The learning service app: the catalogue, assessments, personalised paths for new hires
(planned when the directory says a person entered probation), progress and reminders, the
mentor programme, and the onboarding view; it projects the directory."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from fastapi import FastAPI

# make every table known to the metadata (migrations and the schema check read it)
from zhanli_learning.assessments import models as _assessments  # noqa: F401
from zhanli_learning.assessments.router import router as assessments_router
from zhanli_learning.catalogue import models as _catalogue  # noqa: F401
from zhanli_learning.catalogue.router import router as catalogue_router
from zhanli_learning.db import event_tables, metadata
from zhanli_learning.mentoring import models as _mentoring  # noqa: F401
from zhanli_learning.mentoring.router import router as mentoring_router
from zhanli_learning.onboarding import models as _onboarding  # noqa: F401
from zhanli_learning.onboarding.router import router as onboarding_router
from zhanli_learning.onboarding.router import run_sweep
from zhanli_learning.paths import handlers as path_handlers
from zhanli_learning.paths import models as _paths  # noqa: F401
from zhanli_learning.paths.router import router as paths_router
from zhanli_learning.settings import LearningSettings
from zhanli_shared.events.consumer import HandlerRegistry
from zhanli_shared.events.outbox import Publisher
from zhanli_shared.runtime import Mode, Runtime, create_service_app

log = structlog.get_logger("zhanli.learning")


def create_app(settings: LearningSettings | None = None, mode: Mode = Mode.SERVE) -> FastAPI:
    settings = settings or LearningSettings()
    registry = HandlerRegistry()
    publisher = Publisher(event_tables, source="zhanli/learning")
    path_handlers.register(registry, settings, publisher)
    state: dict[str, asyncio.Task[None]] = {}

    async def sweeping(runtime: Runtime) -> None:
        from zhanli_learning.access import today

        while True:
            await asyncio.sleep(settings.sweep_interval_s)
            try:
                async with runtime.sessions() as session:
                    counts = await run_sweep(
                        session, runtime.publisher, settings, today(settings.timezone)
                    )
                    await session.commit()
                runtime.wake_relay()
                log.info("sweep.done", **counts)
            except Exception as exc:  # the next round tries again
                log.error("sweep.failed", error=repr(exc))

    async def on_start(app: FastAPI, runtime: Runtime) -> None:
        if mode == Mode.SERVE and settings.sweep_interval_s > 0:
            state["sweep"] = asyncio.create_task(sweeping(runtime))

    async def on_stop(app: FastAPI, runtime: Runtime) -> None:
        task = state.pop("sweep", None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return create_service_app(
        settings,
        metadata=metadata,
        tables=event_tables,
        registry=registry,
        mode=mode,
        routers=[
            catalogue_router,
            assessments_router,
            paths_router,
            mentoring_router,
            onboarding_router,
        ],
        on_start=on_start,
        on_stop=on_stop,
        title="Zhanli learning",
    )
