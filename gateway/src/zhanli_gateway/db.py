"""The gateway's schema: its outbox and inbox (and what zhanli_gateway.audit keeps)."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from zhanli_shared.db import new_metadata
from zhanli_shared.events.outbox import define_event_tables

metadata = new_metadata()


class Base(DeclarativeBase):
    metadata = metadata


event_tables = define_event_tables(metadata)
