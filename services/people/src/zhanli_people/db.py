"""The people service's schema: directory, local users, API keys, outbox and inbox."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from zhanli_shared.db import new_metadata
from zhanli_shared.events.outbox import define_event_tables

metadata = new_metadata()


class Base(DeclarativeBase):
    metadata = metadata


event_tables = define_event_tables(metadata)
