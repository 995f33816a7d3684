"""The talent service app: competency profiles, candidates and resumes, match scores,
the pipeline per requisition, hires (published for the directory) and reminders.

It consumes the directory's people (projection) and separations (hiring outcomes) and
the KPI scores (top performers); it publishes hires, reminders and audit facts."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from fastapi import FastAPI

from zhanli_shared.directory import PeopleProjection
from zhanli_shared.events.consumer import HandlerRegistry
from zhanli_shared.runtime import Mode, Runtime, create_service_app
from zhanli_talent.candidates.router import router as candidates_router
from zhanli_talent.db import event_tables, metadata, people_table
from zhanli_talent.models.router import router as models_router
from zhanli_talent.profiles import handlers as profile_handlers
from zhanli_talent.profiles.router import router as profiles_router
from zhanli_talent.reports.router import router as reports_router
from zhanli_talent.requisitions import handlers as requisition_handlers
from zhanli_talent.requisitions import service as requisitions
from zhanli_talent.requisitions.router import router as requisitions_router
from zhanli_talent.settings import TalentSettings

log = structlog.get_logger("zhanli.talent")


async def _reminder_loop(runtime: Runtime, settings: TalentSettings) -> None:
    while True:
        await asyncio.sleep(settings.reminder_interval_s)
        try:
            async with runtime.sessions() as session:
                sent = await requisitions.send_reminders(session, runtime.publisher, settings)
                await session.commit()
            if sent:
                runtime.wake_relay()
        except Exception as exc:  # keep reminding after a database hiccup
            log.warning("talent.reminders_failed", error=repr(exc))


def create_app(settings: TalentSettings | None = None, mode: Mode = Mode.SERVE) -> FastAPI:
    settings = settings or TalentSettings()
    registry = HandlerRegistry()
    PeopleProjection(people_table).register(registry)
    profile_handlers.register(registry)
    requisition_handlers.register(registry)
    tasks: list[asyncio.Task[None]] = []

    async def on_start(app: FastAPI, runtime: Runtime) -> None:
        if mode in (Mode.SERVE, Mode.API) and settings.reminder_interval_s > 0:
            tasks.append(asyncio.create_task(_reminder_loop(runtime, settings)))

    async def on_stop(app: FastAPI, runtime: Runtime) -> None:
        for task in tasks:
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
            profiles_router,
            candidates_router,
            requisitions_router,
            models_router,
            reports_router,
        ],
        title="Zhanli talent",
        description="Competency profiles learned from top performers, Chinese resume "
        "screening, match scores with reasons, the pipeline per requisition, hires and exits.",
        on_start=on_start,
        on_stop=on_stop,
    )
