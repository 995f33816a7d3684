"""The directory: org units (group, branch, department, team) and people."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_people.db import Base
from zhanli_shared.db import TZDateTime


class OrgUnit(Base):
    __tablename__ = "org_units"

    org_unit_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    parent_id: Mapped[str | None] = mapped_column(String(64), index=True)
    manager_id: Mapped[str | None] = mapped_column(String(64), index=True)
    path: Mapped[list[str]] = mapped_column(JSON)
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class Employee(Base):
    __tablename__ = "employees"

    employee_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    org_unit_id: Mapped[str] = mapped_column(String(64), index=True)
    manager_id: Mapped[str | None] = mapped_column(String(64))
    job_role: Mapped[str] = mapped_column(String(64))
    roles: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20))
    hired_on: Mapped[dt.date | None] = mapped_column(Date)
    # Personal data, envelope-encrypted (zhanli_shared.crypto); never in events.
    phone_enc: Mapped[str | None] = mapped_column(Text)
    id_number_enc: Mapped[str | None] = mapped_column(Text)
    # The separation (status left): date, reason (resignation, dismissal, failed_probation,
    # other) and HR's words; retention's label and the talent service's hiring outcome.
    separated_on: Mapped[dt.date | None] = mapped_column(Date)
    separation_reason: Mapped[str | None] = mapped_column(String(30))
    separation_detail: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class DirectoryImport(Base):
    """One HRIS import (a CSV or XLSX file): its progress while it runs, then its outcome.

    ``counts`` holds units/employees created, updated and moved; ``errors`` the rejected
    rows (row number, field, message; never a phone or ID number); ``changes`` what was
    (or, for a dry run, would be) changed. Both lists are capped (``*_truncated``)."""

    __tablename__ = "directory_imports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(30))
    dry_run: Mapped[bool] = mapped_column(Boolean)
    media_type: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[str] = mapped_column(String(200))
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    rows_applied: Mapped[int] = mapped_column(Integer, default=0)
    rows_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rows_failed: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict[str, int]] = mapped_column(JSON)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    errors_truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    changes: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    changes_truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime())

    __table_args__ = (Index("ix_directory_imports_created", "created_at"),)
