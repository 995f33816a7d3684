"""History imports: what was read, accepted and rejected, and the model they trained."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_retention.db import Base
from zhanli_shared.db import TZDateTime


class HistoryImport(Base):
    __tablename__ = "retention_history_imports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    filename: Mapped[str] = mapped_column(String(300))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    status: Mapped[str] = mapped_column(String(20))  # trained, refused
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    model_name: Mapped[str | None] = mapped_column(String(120), nullable=True)
    model_version: Mapped[int | None] = mapped_column(nullable=True)
    activated: Mapped[bool] = mapped_column(default=False)
