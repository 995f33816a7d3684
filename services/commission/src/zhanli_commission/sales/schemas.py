"""API schemas for deals and payments. Unknown fields are refused."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")]
PositiveMoney = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=2)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["CNY"])]


class DealCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deal_id: Identifier
    salesperson_id: Identifier
    customer_name: str = Field(min_length=1, max_length=200, examples=["上海远航物流有限公司"])
    amount: PositiveMoney
    currency: Currency = "CNY"
    product_line: str | None = Field(default=None, max_length=100)
    closed_at: AwareDatetime
    source: str = Field(default="api", pattern=r"^(api|crm|erp|import)$")


class DealRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    deal_id: str
    salesperson_id: str
    customer_name: str
    amount: Decimal
    collected: Decimal
    currency: str
    product_line: str | None
    closed_at: dt.datetime
    source: str


class PaymentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_id: Identifier
    deal_id: Identifier
    amount: PositiveMoney
    currency: Currency = "CNY"
    paid_at: AwareDatetime
    source: str = Field(default="api", pattern=r"^(api|crm|erp|finance|import)$")


class PaymentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    payment_id: str
    deal_id: str
    salesperson_id: str
    amount: Decimal
    currency: str
    paid_at: dt.datetime
    source: str
