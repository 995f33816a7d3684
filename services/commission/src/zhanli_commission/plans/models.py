"""Plans (effective-dated versions), who they apply to, quotas, and the inputs other
services send that pricing depends on (KPI scores, probation signals)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_commission.db import Base
from zhanli_shared.db import Money, Rate, TZDateTime


class Plan(Base):
    __tablename__ = "commission_plans"

    plan_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    created_by: Mapped[str] = mapped_column(String(64))


class PlanVersion(Base):
    """One version of a plan's rules, valid from a period (inclusive) to another (inclusive).

    Versions of one plan never overlap. A correction of an open past period is a new row
    that replaces the version for those periods (see ``plans.service.correct``)."""

    __tablename__ = "commission_plan_versions"
    __table_args__ = (UniqueConstraint("plan_id", "version"),)

    version_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("commission_plans.plan_id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[str] = mapped_column(String(7))
    effective_to: Mapped[str | None] = mapped_column(String(7))
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    created_by: Mapped[str] = mapped_column(String(64))


class PlanAssignment(Base):
    """A plan applies to a person, everyone in an org unit (and below), or a job role.

    The most specific wins: person, then the deepest unit, then the role."""

    __tablename__ = "commission_plan_assignments"

    assignment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("commission_plans.plan_id"), index=True)
    target_type: Mapped[str] = mapped_column(String(10))
    target_id: Mapped[str] = mapped_column(String(64), index=True)
    effective_from: Mapped[str] = mapped_column(String(7))
    effective_to: Mapped[str | None] = mapped_column(String(7))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    created_by: Mapped[str] = mapped_column(String(64))


class Quota(Base):
    """A person's own quota for a period (overrides the plan's quota; ramp and proration
    apply only to the plan's default)."""

    __tablename__ = "commission_quotas"

    salesperson_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    updated_by: Mapped[str] = mapped_column(String(64))


class KpiScore(Base):
    """Projection of ``zhanli.kpi.score_updated``: the KPI gate's input."""

    __tablename__ = "commission_kpi_scores"

    employee_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    score: Mapped[Decimal] = mapped_column(Rate())
    calculated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class ProbationSignal(Base):
    """Latest learning/KPI signals per person and period for flexible probation targets."""

    __tablename__ = "commission_probation_signals"

    employee_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    best_skill_improvement: Mapped[Decimal | None] = mapped_column(Rate())
    best_growth: Mapped[Decimal | None] = mapped_column(Rate())
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
