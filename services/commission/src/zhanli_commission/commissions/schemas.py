"""Commission read models."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, ConfigDict


class CommissionLineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    commission_id: str
    deal_id: str
    payment_id: str | None
    basis_amount: Decimal
    rate: Decimal
    amount: Decimal
    currency: str
    rule: str
    occurred_at: dt.datetime
    calculated_at: dt.datetime


class CommissionStatement(BaseModel):
    salesperson_id: str
    period: str
    currency: str
    total: Decimal
    basis_total: Decimal
    lines: list[CommissionLineRead]
