from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, Field


class CurrencyPosition(BaseModel):
    currency: str
    booked: Decimal = Field(description="Deals closed, less the unpaid part of cancellations")
    collected: Decimal = Field(description="Money received, less refunds")
    refunded: Decimal
    cancelled: Decimal = Field(description="Unpaid amounts of deals cancelled in the period")
    collected_share: Decimal
    deals: int
    payments: int
    refunds: int
    cancellations: int
    updated_at: dt.datetime | None


class RevenueRead(CurrencyPosition):
    """The period in the company currency; other currencies listed apart, never added."""

    employee_id: str
    period: str
    other_currencies: list[CurrencyPosition] = Field(default_factory=list)
