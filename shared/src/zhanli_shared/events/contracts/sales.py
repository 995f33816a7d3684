"""Sales facts: deals and payments, from CRM/ERP/finance or posted through the API."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from zhanli_shared.events.contracts.base import DecimalStr, EventContract, MoneyStr


class SplitShare(BaseModel):
    """One person's share of a deal, in percent; a deal's shares total exactly 100."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    salesperson_id: str = Field(min_length=1, max_length=64)
    share: DecimalStr = Field(description="Percent of the deal credited to this person")


class DealRecorded(EventContract):
    event_type = "zhanli.sales.deal_recorded"
    version = 1
    key_field = "salesperson_id"
    description = "A deal was closed (booked) for a salesperson."

    deal_id: str = Field(min_length=1, max_length=64)
    salesperson_id: str
    customer_name: str
    amount: MoneyStr
    currency: str = Field(min_length=3, max_length=3)
    product_line: str | None = None
    closed_at: dt.datetime
    source: str = Field(
        default="api", description="Where the fact came from: api, crm, erp, import"
    )
    margin: MoneyStr | None = Field(
        default=None, description="Gross profit of the deal (margin-based plans)"
    )
    splits: list[SplitShare] | None = Field(
        default=None, description="Credit split across several people; none = all to the owner"
    )


class PaymentReceived(EventContract):
    event_type = "zhanli.sales.payment_received"
    version = 1
    key_field = "salesperson_id"
    description = "Money was collected on a deal (full or partial payment)."

    payment_id: str = Field(min_length=1, max_length=64)
    deal_id: str
    salesperson_id: str
    amount: MoneyStr
    currency: str = Field(min_length=3, max_length=3)
    paid_at: dt.datetime
    source: str = "api"


class RefundIssued(EventContract):
    event_type = "zhanli.sales.refund_issued"
    version = 1
    key_field = "salesperson_id"
    description = "Money collected on a deal was returned to the customer (claws back)."

    refund_id: str = Field(min_length=1, max_length=64)
    deal_id: str
    salesperson_id: str
    amount: MoneyStr
    currency: str = Field(min_length=3, max_length=3)
    refunded_at: dt.datetime
    reason: str | None = None
    source: str = "api"


class DealCancelled(EventContract):
    event_type = "zhanli.sales.deal_cancelled"
    version = 1
    key_field = "salesperson_id"
    description = (
        "A deal was cancelled: its unpaid instalments will never be collected. Money already "
        "collected is clawed back only when it is refunded."
    )

    deal_id: str
    salesperson_id: str
    cancelled_at: dt.datetime
    unpaid_amount: MoneyStr
    reason: str | None = None
    source: str = "api"
