"""The retention service app: features from events, early-warning rules, a calibrated
hazard model with explanations, alerts, interventions and their effect."""

from __future__ import annotations

from fastapi import FastAPI

from zhanli_retention.db import event_tables, metadata, people_table
from zhanli_retention.features import handlers as feature_handlers
from zhanli_retention.settings import RetentionSettings
from zhanli_shared.directory import PeopleProjection
from zhanli_shared.events.consumer import HandlerRegistry
from zhanli_shared.runtime import Mode, create_service_app


def create_app(settings: RetentionSettings | None = None, mode: Mode = Mode.SERVE) -> FastAPI:
    settings = settings or RetentionSettings()
    registry = HandlerRegistry()
    feature_handlers.register(registry, settings.timezone, PeopleProjection(people_table))
    return create_service_app(
        settings,
        metadata=metadata,
        tables=event_tables,
        registry=registry,
        mode=mode,
        title="Zhanli retention",
    )
