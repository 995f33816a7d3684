"""Each person's revenue position per business month, fed by the sales events."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_kpi.db import Base
from zhanli_shared.db import Money, TZDateTime


class RevenuePosition(Base):
    """Booked revenue counts deals by close date; collected counts money actually received
    (revenue not yet collected never counts as collected)."""

    __tablename__ = "revenue_positions"

    employee_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    booked: Mapped[Decimal] = mapped_column(Money())
    collected: Mapped[Decimal] = mapped_column(Money())
    deals: Mapped[int] = mapped_column(Integer)
    payments: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
