"""The learning service app. Its domain capability arrives with its own issue; today it
projects the directory (so it knows every person) and runs the platform plumbing."""

from __future__ import annotations

from fastapi import FastAPI

from zhanli_learning.db import event_tables, metadata, people_table
from zhanli_learning.settings import LearningSettings
from zhanli_shared.directory import PeopleProjection
from zhanli_shared.events.consumer import HandlerRegistry
from zhanli_shared.runtime import Mode, create_service_app


def create_app(settings: LearningSettings | None = None, mode: Mode = Mode.SERVE) -> FastAPI:
    settings = settings or LearningSettings()
    registry = HandlerRegistry()
    PeopleProjection(people_table).register(registry)
    return create_service_app(
        settings,
        metadata=metadata,
        tables=event_tables,
        registry=registry,
        mode=mode,
        title="Zhanli learning",
    )
