"""The retention service app: features from events, early-warning rules, a calibrated
hazard model with explanations, alerts, interventions and their effect."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from fastapi import FastAPI

from zhanli_retention.db import event_tables, metadata, people_table
from zhanli_retention.features import handlers as feature_handlers
from zhanli_retention.features.router import router as features_router
from zhanli_retention.history.router import router as history_router
from zhanli_retention.interventions.router import router as interventions_router
from zhanli_retention.modeling import service as modeling
from zhanli_retention.modeling.router import router as modeling_router
from zhanli_retention.reports.router import router as reports_router
from zhanli_retention.scoring import service as scoring
from zhanli_retention.scoring.router import router as scoring_router
from zhanli_retention.settings import RetentionSettings
from zhanli_shared.directory import PeopleProjection
from zhanli_shared.events.consumer import HandlerRegistry
from zhanli_shared.runtime import Mode, Runtime, create_service_app

log = structlog.get_logger("zhanli.retention")


def create_app(settings: RetentionSettings | None = None, mode: Mode = Mode.SERVE) -> FastAPI:
    settings = settings or RetentionSettings()
    registry = HandlerRegistry()
    feature_handlers.register(registry, settings.timezone, PeopleProjection(people_table))
    tasks: list[asyncio.Task[None]] = []

    async def every(interval: float, what: str, runtime: Runtime) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                if what == "train":
                    await modeling.start_training(
                        runtime, settings, trigger="schedule", by=None, wait=True
                    )
                else:
                    await scoring.refresh_all(runtime, settings)
            except Exception:
                log.exception("retention.scheduled_job_failed", job=what)

    async def on_start(app: FastAPI, runtime: Runtime) -> None:
        if mode not in (Mode.SERVE, Mode.API):
            return
        if settings.retrain_interval_s > 0:
            tasks.append(asyncio.create_task(every(settings.retrain_interval_s, "train", runtime)))
        if settings.rescore_interval_s > 0:
            tasks.append(asyncio.create_task(every(settings.rescore_interval_s, "score", runtime)))

    async def on_stop(app: FastAPI, runtime: Runtime) -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    return create_service_app(
        settings,
        metadata=metadata,
        tables=event_tables,
        registry=registry,
        mode=mode,
        routers=[
            scoring_router,
            interventions_router,
            modeling_router,
            history_router,
            reports_router,
            features_router,
        ],
        title="Zhanli retention",
        description=(
            "Early warning of new salespeople at risk of leaving: features from events, rules "
            "from day one, a calibrated hazard model with explanations, alerts, interventions."
        ),
        on_start=on_start,
        on_stop=on_stop,
    )
