"""Statements (one per person and closed period), their history of status changes, the
person's running balances (recoverable draw, negative pay carried forward), payout batches
and disputes of commission lines."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from zhanli_commission.db import Base
from zhanli_shared.db import Money, TZDateTime

# open -> closed -> manager_approved -> payable (finance approved) -> paid;
# a refusal sends a closed, manager-approved or payable (not yet batched) statement back
# to closed with the reason.
OPEN, CLOSED, MANAGER_APPROVED, PAYABLE, PAID = (
    "open",
    "closed",
    "manager_approved",
    "payable",
    "paid",
)


class Statement(Base):
    """A person's statement of a closed period: frozen figures and where it is in approval."""

    __tablename__ = "commission_statements"
    __table_args__ = (Index("ix_commission_statements_period_status", "period", "status"),)

    salesperson_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    org_unit_id: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    plan_id: Mapped[str | None] = mapped_column(String(64))
    plan_version: Mapped[int | None] = mapped_column(Integer)
    months_of_service: Mapped[int | None] = mapped_column(Integer)
    draw_kind: Mapped[str | None] = mapped_column(String(20))
    draw_guarantee: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    draw_balance_before: Mapped[Decimal] = mapped_column(Money())
    draw_balance_after: Mapped[Decimal] = mapped_column(Money())
    closed_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    closed_by: Mapped[str] = mapped_column(String(64))
    manager_approved_by: Mapped[str | None] = mapped_column(String(64))
    manager_approved_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime(), nullable=True)
    finance_approved_by: Mapped[str | None] = mapped_column(String(64))
    finance_approved_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime(), nullable=True)
    rejection_reason: Mapped[str | None] = mapped_column(String(1000))
    rejected_by: Mapped[str | None] = mapped_column(String(64))
    rejected_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime(), nullable=True)
    payout_batch_id: Mapped[str | None] = mapped_column(String(64), index=True)
    paid_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime(), nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class StatementHistory(Base):
    """Every status change of a statement: who, when, why (approvals and refusals)."""

    __tablename__ = "commission_statement_history"
    __table_args__ = (
        Index("ix_commission_statement_history_person_period", "salesperson_id", "period"),
    )

    entry_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    salesperson_id: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(7))
    action: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(String(1000))
    at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class PersonBalance(Base):
    """A person's running balances: recoverable draw still owed back (>= 0) and negative
    pay carried to the next payout (<= 0)."""

    __tablename__ = "commission_person_balances"

    salesperson_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    draw_balance: Mapped[Decimal] = mapped_column(Money())
    carried_balance: Mapped[Decimal] = mapped_column(Money())
    updated_at: Mapped[dt.datetime] = mapped_column(TZDateTime())


class PayoutBatch(Base):
    __tablename__ = "commission_payout_batches"

    batch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), index=True)
    org_unit_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12))
    currency: Mapped[str] = mapped_column(String(3))
    total_amount: Mapped[Decimal] = mapped_column(Money())
    items: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    created_by: Mapped[str] = mapped_column(String(64))
    paid_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime(), nullable=True)
    paid_by: Mapped[str | None] = mapped_column(String(64))
    payment_reference: Mapped[str | None] = mapped_column(String(200))


class PayoutItem(Base):
    """One person's pay in a batch: statement total + carried balance, never below 0."""

    __tablename__ = "commission_payout_items"

    batch_id: Mapped[str] = mapped_column(
        ForeignKey("commission_payout_batches.batch_id"), primary_key=True
    )
    salesperson_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(7))
    name: Mapped[str] = mapped_column(String(200))
    org_unit_id: Mapped[str | None] = mapped_column(String(64))
    statement_total: Mapped[Decimal] = mapped_column(Money())
    draw_total: Mapped[Decimal] = mapped_column(Money())
    carried_in: Mapped[Decimal] = mapped_column(Money())
    amount: Mapped[Decimal] = mapped_column(Money())
    carried_out: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))


class Dispute(Base):
    """A person questions one of their commission lines; a manager or finance resolves it."""

    __tablename__ = "commission_disputes"
    __table_args__ = (Index("ix_commission_disputes_person_period", "salesperson_id", "period"),)

    dispute_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    commission_id: Mapped[str] = mapped_column(String(64), index=True)
    salesperson_id: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(7))
    status: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str] = mapped_column(String(2000))
    raised_by: Mapped[str] = mapped_column(String(64))
    raised_at: Mapped[dt.datetime] = mapped_column(TZDateTime())
    answer: Mapped[str | None] = mapped_column(String(2000))
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(TZDateTime(), nullable=True)
    adjustment_amount: Mapped[Decimal | None] = mapped_column(Money(), nullable=True)
    adjustment_commission_id: Mapped[str | None] = mapped_column(String(64))
    adjustment_period: Mapped[str | None] = mapped_column(String(7))
