"""Each person's revenue position per business month and currency, fed by the sales events.

Amounts in different currencies are never added together: a position is one currency.
Booked revenue counts deals by close date, less the unpaid part of cancelled deals;
collected counts money actually received, less refunds (revenue not yet collected never
counts as collected). A refund or a cancellation reduces the period it happens in: a past
period is never rewritten.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_kpi.db import Base
from zhanli_shared.db import Money, TZDateTime


class RevenuePosition(Base):
    __tablename__ = "revenue_positions"

    employee_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    booked: Mapped[Decimal] = mapped_column(Money())
    collected: Mapped[Decimal] = mapped_column(Money())
    refunded: Mapped[Decimal] = mapped_column(Money(), server_default="0")
    cancelled: Mapped[Decimal] = mapped_column(Money(), server_default="0")
    deals: Mapped[int] = mapped_column(Integer)
    payments: Mapped[int] = mapped_column(Integer)
    refunds: Mapped[int] = mapped_column(Integer, server_default="0")
    cancellations: Mapped[int] = mapped_column(Integer, server_default="0")
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class RevenueDeal(Base):
    """What the projection needs to know of a deal when its later facts arrive: the
    currency (a cancellation carries none), the people credited and their shares."""

    __tablename__ = "revenue_deals"

    deal_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    salesperson_id: Mapped[str] = mapped_column(String(64), index=True)
    customer_name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    amount: Mapped[Decimal] = mapped_column(Money())
    period: Mapped[str] = mapped_column(String(7))
    shares: Mapped[dict[str, Any]] = mapped_column(JSON)  # person -> percent (str)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    closed_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class ParkedCancellation(Base):
    """A cancellation whose deal has not arrived: applied when the deal does (its currency
    is the deal's)."""

    __tablename__ = "revenue_parked_cancellations"

    deal_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    parked_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class RevenueFact(Base):
    """Facts already applied, by their business id (``payment:P1``, ``refund:R1``,
    ``cancellation:D1``): a fact sent twice under two event ids counts once."""

    __tablename__ = "revenue_facts"

    fact_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    applied_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class RevenueCustomer(Base):
    """The customers each person has closed a deal with: a later deal is a repurchase."""

    __tablename__ = "revenue_customers"

    employee_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    customer_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    first_deal_id: Mapped[str] = mapped_column(String(64))
    first_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
