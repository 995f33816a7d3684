"""The KPI service app. Today: revenue positions from the sales events."""

from __future__ import annotations

from fastapi import FastAPI

from zhanli_kpi.db import event_tables, metadata, people_table
from zhanli_kpi.revenue import handlers as revenue_handlers
from zhanli_kpi.revenue.router import router as revenue_router
from zhanli_kpi.settings import KpiSettings
from zhanli_shared.directory import PeopleProjection
from zhanli_shared.events.consumer import HandlerRegistry
from zhanli_shared.runtime import Mode, create_service_app


def create_app(settings: KpiSettings | None = None, mode: Mode = Mode.SERVE) -> FastAPI:
    settings = settings or KpiSettings()
    registry = HandlerRegistry()
    PeopleProjection(people_table).register(registry)
    revenue_handlers.register(registry, settings)
    return create_service_app(
        settings,
        metadata=metadata,
        tables=event_tables,
        registry=registry,
        mode=mode,
        routers=[revenue_router],
        title="Zhanli KPI",
    )
