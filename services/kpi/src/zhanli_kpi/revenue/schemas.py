from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel


class RevenueRead(BaseModel):
    employee_id: str
    period: str
    currency: str
    booked: Decimal
    collected: Decimal
    collected_share: Decimal
    deals: int
    payments: int
    updated_at: dt.datetime | None
