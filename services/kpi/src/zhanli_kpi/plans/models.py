"""KPI plans per role and level, their effective-dated assignments (person > deepest unit >
job role, as commission plans) and the targets set for a person or a unit in a period."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_kpi.db import Base
from zhanli_shared.db import TZDateTime


class KpiPlan(Base):
    __tablename__ = "kpi_plans"

    plan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(64))
    lines: Mapped[list[Any]] = mapped_column(JSON)  # indicator, weight, target, curve
    description: Mapped[str | None] = mapped_column(String(1000))
    version: Mapped[int] = mapped_column()
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    updated_by: Mapped[str] = mapped_column(String(64))


class KpiPlanAssignment(Base):
    __tablename__ = "kpi_plan_assignments"

    assignment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("kpi_plans.plan_id"), index=True)
    target_type: Mapped[str] = mapped_column(String(10))  # person | unit | role
    target_id: Mapped[str] = mapped_column(String(64), index=True)
    effective_from: Mapped[str] = mapped_column(String(7))
    effective_to: Mapped[str | None] = mapped_column(String(7))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    created_by: Mapped[str] = mapped_column(String(64))


class KpiTarget(Base):
    """A target for one indicator in one period, for a person or a unit (a team target;
    cascaded from a parent's with a weight). Overrides the plan line's target."""

    __tablename__ = "kpi_targets"
    __table_args__ = (UniqueConstraint("scope_type", "scope_id", "period", "indicator"),)

    target_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope_type: Mapped[str] = mapped_column(String(10))  # person | unit
    scope_id: Mapped[str] = mapped_column(String(64), index=True)
    period: Mapped[str] = mapped_column(String(7))
    indicator: Mapped[str] = mapped_column(String(64))
    target: Mapped[float] = mapped_column(Float)
    parent_id: Mapped[str | None] = mapped_column(String(64))  # the unit it was cascaded from
    weight: Mapped[float | None] = mapped_column(Float)  # share of the parent, for roll-ups
    bonus_threshold: Mapped[float | None] = mapped_column(Float)  # team bonus rule (unit)
    bonus_points: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    updated_by: Mapped[str] = mapped_column(String(64))
