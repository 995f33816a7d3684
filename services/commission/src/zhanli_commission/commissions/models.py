"""The commission ledger: credits (what a person is credited with), lines (append-only
changes of commission, each explained) and each person's period position."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_commission.db import Base
from zhanli_shared.db import Money, Rate, TZDateTime


class Credit(Base):
    """One person's share of one sales fact in one period: the pricing engine's input.

    ``credit_id`` is ``<kind>:<fact id>:<person>``, so replaying a fact never credits twice."""

    __tablename__ = "commission_credits"
    __table_args__ = (Index("ix_commission_credits_person_period", "salesperson_id", "period"),)

    credit_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    salesperson_id: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(7))
    deal_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    fact_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(Money())
    basis: Mapped[Decimal] = mapped_column(Money())
    share: Mapped[Decimal] = mapped_column(Rate())
    product_line: Mapped[str | None] = mapped_column(String(100))
    occurred_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    deal_closed_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class CommissionLine(Base):
    __tablename__ = "commission_lines"
    __table_args__ = (Index("ix_commission_lines_person_period", "salesperson_id", "period"),)

    commission_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    salesperson_id: Mapped[str] = mapped_column(String(64), index=True)
    period: Mapped[str] = mapped_column(String(7), index=True)
    deal_id: Mapped[str] = mapped_column(String(64))
    payment_id: Mapped[str | None] = mapped_column(String(64), index=True)
    credit_id: Mapped[str | None] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(20), default="earning")
    own: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    trueup: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    tier: Mapped[str | None] = mapped_column(String(60))
    plan_id: Mapped[str | None] = mapped_column(String(64))
    plan_version: Mapped[int | None] = mapped_column(Integer)
    explanation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    basis_amount: Mapped[Decimal] = mapped_column(Money())
    rate: Mapped[Decimal] = mapped_column(Rate())
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    rule: Mapped[str] = mapped_column(String(100))
    source_event_id: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    calculated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class PeriodTotal(Base):
    __tablename__ = "commission_period_totals"

    salesperson_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    total: Mapped[Decimal] = mapped_column(Money())
    basis_total: Mapped[Decimal] = mapped_column(Money())
    lines: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    plan_id: Mapped[str | None] = mapped_column(String(64))
    plan_version: Mapped[int | None] = mapped_column(Integer)
    quota: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    attainment: Mapped[Decimal | None] = mapped_column(Rate(), nullable=True)
    tier: Mapped[str | None] = mapped_column(String(60))
    kept: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    status: Mapped[str] = mapped_column(String(20), default="open")


class ParkedFact(Base):
    """A payment, refund or cancellation event whose deal has not arrived yet.

    Recorded and applied (in occurrence order) when the deal's ``deal_recorded`` event
    arrives; never dropped and never counted twice (credit ids are per fact). One the rules
    refuse then stays, with its ``refusal``."""

    __tablename__ = "commission_parked_facts"

    fact_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    deal_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    fact_id: Mapped[str] = mapped_column(String(64))
    amount: Mapped[Decimal] = mapped_column(Money())
    occurred_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    source_event_id: Mapped[str] = mapped_column(String(64))
    parked_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    event: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """The event (``payload``) and its ``source``, recorded by the API's rules when the deal
    arrives."""
    refusal: Mapped[str | None] = mapped_column(String(500), nullable=True)
    """Why the fact was refused when its deal arrived (it stays here, never credited)."""
