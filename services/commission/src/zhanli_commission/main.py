"""The commission service app: deals and payments in, real-time commission out."""

from __future__ import annotations

from fastapi import FastAPI

from zhanli_commission.commissions import handlers
from zhanli_commission.commissions.router import router as commissions_router
from zhanli_commission.db import event_tables, metadata
from zhanli_commission.disputes.router import router as disputes_router
from zhanli_commission.payouts.router import router as payouts_router
from zhanli_commission.plans.router import router as plans_router
from zhanli_commission.sales.router import router as sales_router
from zhanli_commission.settings import CommissionSettings
from zhanli_commission.statements.router import router as statements_router
from zhanli_shared.events.consumer import HandlerRegistry
from zhanli_shared.events.outbox import Publisher
from zhanli_shared.runtime import Mode, create_service_app


def create_app(settings: CommissionSettings | None = None, mode: Mode = Mode.SERVE) -> FastAPI:
    settings = settings or CommissionSettings()
    registry = HandlerRegistry()
    handlers.register(registry, Publisher(event_tables, "zhanli/commission"), settings)
    return create_service_app(
        settings,
        metadata=metadata,
        tables=event_tables,
        registry=registry,
        mode=mode,
        routers=[
            sales_router,
            commissions_router,
            plans_router,
            statements_router,
            payouts_router,
            disputes_router,
        ],
        title="Zhanli commission",
        description="Deals and payments in; commission computed the moment money is collected.",
    )
