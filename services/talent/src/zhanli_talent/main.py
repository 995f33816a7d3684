"""The talent service app. Its domain capability arrives with its own issue; today it
projects the directory (so it knows every person) and runs the platform plumbing."""

from __future__ import annotations

from fastapi import FastAPI

from zhanli_shared.directory import PeopleProjection
from zhanli_shared.events.consumer import HandlerRegistry
from zhanli_shared.runtime import Mode, create_service_app
from zhanli_talent.db import event_tables, metadata, people_table
from zhanli_talent.settings import TalentSettings


def create_app(settings: TalentSettings | None = None, mode: Mode = Mode.SERVE) -> FastAPI:
    settings = settings or TalentSettings()
    registry = HandlerRegistry()
    PeopleProjection(people_table).register(registry)
    return create_service_app(
        settings,
        metadata=metadata,
        tables=event_tables,
        registry=registry,
        mode=mode,
        title="Zhanli talent",
    )
