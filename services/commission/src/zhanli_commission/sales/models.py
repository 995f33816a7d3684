"""Deals and payments as the commission service stores them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_commission.db import Base
from zhanli_shared.db import Money, Rate, TZDateTime


class Deal(Base):
    __tablename__ = "deals"

    deal_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    salesperson_id: Mapped[str] = mapped_column(String(64), index=True)
    customer_name: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal] = mapped_column(Money())
    collected: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    product_line: Mapped[str | None] = mapped_column(String(100))
    closed_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    source: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    margin: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    refunded: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0.00"))
    status: Mapped[str] = mapped_column(String(12), default="open")
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime(), nullable=True)


class DealSplit(Base):
    """A deal's credit split across several people (percent shares totalling 100)."""

    __tablename__ = "deal_splits"

    deal_id: Mapped[str] = mapped_column(ForeignKey("deals.deal_id"), primary_key=True)
    salesperson_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    share: Mapped[Decimal] = mapped_column(Rate())
    position: Mapped[int] = mapped_column(Integer)


class Refund(Base):
    __tablename__ = "refunds"

    refund_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    deal_id: Mapped[str] = mapped_column(ForeignKey("deals.deal_id"), index=True)
    salesperson_id: Mapped[str] = mapped_column(String(64), index=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    refunded_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    reason: Mapped[str | None] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class Payment(Base):
    __tablename__ = "payments"

    payment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    deal_id: Mapped[str] = mapped_column(ForeignKey("deals.deal_id"), index=True)
    salesperson_id: Mapped[str] = mapped_column(String(64), index=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    paid_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    source: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
