"""The audit service app: the tamper-evident audit chain (every service's audit facts and
what the gateway saw) and outgoing webhooks (subscriptions, deliveries, the dispatcher)."""

from __future__ import annotations

from fastapi import FastAPI

from zhanli_audit.audit import handlers as audit_handlers
from zhanli_audit.audit.router import router as audit_router
from zhanli_audit.db import event_tables, metadata
from zhanli_audit.settings import AuditSettings
from zhanli_audit.webhooks import handlers as webhook_handlers
from zhanli_audit.webhooks.dispatcher import WebhookDispatcher
from zhanli_audit.webhooks.router import router as webhooks_router
from zhanli_shared.events.consumer import HandlerRegistry
from zhanli_shared.runtime import Mode, Runtime, create_service_app


def create_app(settings: AuditSettings | None = None, mode: Mode = Mode.SERVE) -> FastAPI:
    settings = settings or AuditSettings()
    registry = HandlerRegistry()
    audit_handlers.register(registry)
    webhook_handlers.register(registry, settings.webhook_blocked_topics)  # after the others

    async def on_start(app: FastAPI, runtime: Runtime) -> None:
        # Deliveries go out from the workers (serve, or consume when split): the api pods
        # stay a thin HTTP tier. Several dispatchers share the work through leases.
        if settings.webhook_dispatcher_enabled and mode in (Mode.SERVE, Mode.CONSUME):
            app.state.webhooks = WebhookDispatcher(settings, runtime.sessions, runtime.cipher)
            await app.state.webhooks.start()

    async def on_stop(app: FastAPI, runtime: Runtime) -> None:
        del runtime
        if getattr(app.state, "webhooks", None) is not None:
            await app.state.webhooks.stop()

    return create_service_app(
        settings,
        metadata=metadata,
        tables=event_tables,
        registry=registry,
        mode=mode,
        routers=[audit_router, webhooks_router],
        title="Zhanli audit and integrations",
        description="The tamper-evident audit log of every change, and outgoing webhooks.",
        on_start=on_start,
        on_stop=on_stop,
    )
