"""The retention service's schema: its own tables, the outbox and inbox, and its projections."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from zhanli_shared.db import new_metadata
from zhanli_shared.directory import define_people_table
from zhanli_shared.events.outbox import define_event_tables
from zhanli_shared.ml.registry import ModelRegistry, define_model_tables

metadata = new_metadata()


class Base(DeclarativeBase):
    metadata = metadata


event_tables = define_event_tables(metadata)
people_table = define_people_table(metadata)

model_tables = define_model_tables(metadata)
model_registry = ModelRegistry(model_tables)
