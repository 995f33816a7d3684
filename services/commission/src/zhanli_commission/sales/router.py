"""Deals and payments: facts pushed by CRM/ERP/finance (or people) through the gateway."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from zhanli_commission.sales import repository, service
from zhanli_commission.sales.schemas import (
    DealCancel,
    DealCreate,
    DealRead,
    PaymentCreate,
    PaymentRead,
    RefundCreate,
    RefundRead,
)
from zhanli_commission.settings import commission_settings
from zhanli_shared.audit import client_ip
from zhanli_shared.auth import CurrentPrincipal, Principal, Role, require_roles
from zhanli_shared.errors import NotFound, OutOfScope
from zhanli_shared.runtime import PublisherDep, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/commission", tags=["sales facts"])

WRITERS = (Role.INTEGRATION, Role.FINANCE, Role.HR_ADMIN)
Writer = Annotated[Principal, Depends(require_roles(*WRITERS))]


@router.post("/deals", status_code=status.HTTP_201_CREATED, response_model=DealRead)
async def create_deal(
    body: DealCreate,
    request: Request,
    principal: Writer,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> DealRead:
    deal = await service.record_deal(
        session,
        publisher,
        commission_settings(runtime),
        body,
        actor=principal,
        source_ip=client_ip(request),
    )
    return await service.deal_read(session, deal)


@router.get("/deals/{deal_id}", response_model=DealRead)
async def read_deal(deal_id: str, principal: CurrentPrincipal, session: SessionDep) -> DealRead:
    """A deal is its salesperson's data: the person, their management chain and the
    company-wide roles see it; integrations read back the facts they sync."""
    deal = await repository.get_deal(session, deal_id)
    if deal is None:
        raise NotFound(f"Deal {deal_id!r} not found.")
    person = await service.people.get(session, deal.salesperson_id)
    org_path = person.org_path if person else []
    if not (
        principal.can_view_person(deal.salesperson_id, org_path)
        or principal.has_any({Role.INTEGRATION})
    ):
        raise OutOfScope(f"Deal {deal_id!r} not found.")  # alike: no id enumeration
    return await service.deal_read(session, deal)


@router.post("/payments", status_code=status.HTTP_201_CREATED, response_model=PaymentRead)
async def create_payment(
    body: PaymentCreate,
    request: Request,
    principal: Writer,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> PaymentRead:
    payment = await service.record_payment(
        session,
        publisher,
        commission_settings(runtime),
        body,
        actor=principal,
        source_ip=client_ip(request),
    )
    return PaymentRead.model_validate(payment)


@router.post("/deals/{deal_id}/cancel", response_model=DealRead)
async def cancel_deal(
    deal_id: str,
    body: DealCancel,
    request: Request,
    principal: Writer,
    session: SessionDep,
    publisher: PublisherDep,
) -> DealRead:
    """Cancel a deal: unpaid instalments are cancelled (no commission will be earned on
    them); collected money is clawed back when it is refunded (``POST /refunds``)."""
    deal = await service.cancel_deal(
        session, publisher, deal_id, body, actor=principal, source_ip=client_ip(request)
    )
    return await service.deal_read(session, deal)


@router.post("/refunds", status_code=status.HTTP_201_CREATED, response_model=RefundRead)
async def create_refund(
    body: RefundCreate,
    request: Request,
    principal: Writer,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> RefundRead:
    refund = await service.record_refund(
        session,
        publisher,
        commission_settings(runtime),
        body,
        actor=principal,
        source_ip=client_ip(request),
    )
    return RefundRead.model_validate(refund)
