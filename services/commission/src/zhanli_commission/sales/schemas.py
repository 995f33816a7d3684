"""API schemas for deals and payments. Unknown fields are refused."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")]
PositiveMoney = Annotated[Decimal, Field(gt=0, max_digits=18, decimal_places=2)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["CNY"])]


class SplitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    salesperson_id: Identifier
    share: Annotated[Decimal, Field(gt=0, le=100, max_digits=9, decimal_places=4)] = Field(
        description="Percent of the deal credited to this person"
    )


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
    margin: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)] | None = Field(
        default=None, description="Gross profit of the deal, for margin-based plans"
    )
    splits: list[SplitIn] | None = Field(
        default=None,
        max_length=20,
        description="Credit split across people (shares total 100); none = all to the owner",
    )


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
    margin: Decimal | None = None
    refunded: Decimal = Decimal("0.00")
    status: str = "open"
    cancelled_at: dt.datetime | None = None
    splits: list[SplitIn] = []


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


class RefundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refund_id: Identifier
    deal_id: Identifier
    amount: PositiveMoney
    currency: Currency = "CNY"
    refunded_at: AwareDatetime
    reason: str | None = Field(default=None, max_length=500)
    source: str = Field(default="api", pattern=r"^(api|crm|erp|finance|import)$")


class RefundRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    refund_id: str
    deal_id: str
    salesperson_id: str
    amount: Decimal
    currency: str
    refunded_at: dt.datetime
    reason: str | None
    source: str


class DealCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cancelled_at: AwareDatetime
    reason: str | None = Field(default=None, max_length=500)
    source: str = Field(default="api", pattern=r"^(api|crm|erp|finance|import)$")


class CancellationCreate(DealCancel):
    """A cancellation in a batch: the deal it cancels, and the body of
    ``POST /deals/{deal_id}/cancel``."""

    deal_id: Identifier
