"""The KPI service app: indicator library, plans, facts, live boards, scores out."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_kpi.boards.router import router as boards_router
from zhanli_kpi.db import event_tables, metadata, people_table
from zhanli_kpi.facts import service as facts
from zhanli_kpi.facts.router import router as facts_router
from zhanli_kpi.indicators.router import router as indicators_router
from zhanli_kpi.periods.router import router as periods_router
from zhanli_kpi.plans.router import router as plans_router
from zhanli_kpi.ratings.router import router as ratings_router
from zhanli_kpi.revenue import handlers as revenue_handlers
from zhanli_kpi.revenue.router import router as revenue_router
from zhanli_kpi.revenue.service import SalesDelta
from zhanli_kpi.settings import KpiSettings
from zhanli_shared.directory import PeopleProjection
from zhanli_shared.events.consumer import HandlerRegistry
from zhanli_shared.events.envelope import CloudEvent
from zhanli_shared.events.outbox import Publisher
from zhanli_shared.runtime import Mode, create_service_app


def create_app(settings: KpiSettings | None = None, mode: Mode = Mode.SERVE) -> FastAPI:
    settings = settings or KpiSettings()
    registry = HandlerRegistry()
    PeopleProjection(people_table).register(registry)
    publisher = Publisher(event_tables, source=f"zhanli/{settings.service_name}")

    async def sales_to_facts(
        session: AsyncSession, deltas: list[SalesDelta], envelope: CloudEvent
    ) -> None:
        await facts.apply_sales(session, publisher, settings, deltas)

    revenue_handlers.register(registry, settings, sales_to_facts)
    return create_service_app(
        settings,
        metadata=metadata,
        tables=event_tables,
        registry=registry,
        mode=mode,
        routers=[
            revenue_router,
            indicators_router,
            plans_router,
            facts_router,
            boards_router,
            periods_router,
            ratings_router,
        ],
        title="Zhanli KPI",
    )
