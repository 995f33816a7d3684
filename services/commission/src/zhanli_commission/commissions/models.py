"""Commission lines (one per payment) and each person's running period total."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_commission.db import Base
from zhanli_shared.db import Money, Rate, TZDateTime


class CommissionLine(Base):
    __tablename__ = "commission_lines"

    commission_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    salesperson_id: Mapped[str] = mapped_column(String(64), index=True)
    period: Mapped[str] = mapped_column(String(7), index=True)
    deal_id: Mapped[str] = mapped_column(String(64))
    payment_id: Mapped[str | None] = mapped_column(String(64), unique=True)
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
