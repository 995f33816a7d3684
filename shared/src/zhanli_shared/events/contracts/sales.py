"""Sales facts: deals and payments, from CRM/ERP/finance or posted through the API."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from zhanli_shared.events.contracts.base import EventContract, MoneyStr


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
