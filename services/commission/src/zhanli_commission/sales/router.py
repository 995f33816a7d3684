"""Deals and payments: facts pushed by CRM/ERP/finance (or people) through the gateway."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_commission.sales import repository, service
from zhanli_commission.sales.schemas import (
    CancellationCreate,
    DealCancel,
    DealCreate,
    DealRead,
    PaymentCreate,
    PaymentRead,
    RefundCreate,
    RefundRead,
)
from zhanli_commission.settings import commission_settings
from zhanli_shared import batch
from zhanli_shared.audit import client_ip
from zhanli_shared.auth import CurrentPrincipal, Principal, Role, require_roles
from zhanli_shared.batch import BatchIn, BatchOut, ItemResult
from zhanli_shared.errors import NotFound, OutOfScope
from zhanli_shared.events.outbox import Publisher
from zhanli_shared.runtime import PublisherDep, ReadSessionDep, Runtime, RuntimeDep, SessionDep

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
async def read_deal(deal_id: str, principal: CurrentPrincipal, session: ReadSessionDep) -> DealRead:
    """A deal is its salesperson's data: the person, their management chain and the
    company-wide roles see it; integrations read back the facts they sync."""
    view = await repository.deal_view(session, deal_id)
    if view is None:
        raise NotFound(f"Deal {deal_id!r} not found.")
    salesperson_id = view.deal["salesperson_id"]
    if not (
        principal.can_view_person(salesperson_id, view.org_path or [])
        or principal.has_any({Role.INTEGRATION})
    ):
        raise OutOfScope(f"Deal {deal_id!r} not found.")  # alike: no id enumeration
    return service.deal_view_read(view)


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


# --- batches: up to 1,000 facts in one request, one transaction, a result per item ---------


def _batch_out(
    request: Request,
    bad: list[ItemResult],
    parsed: list[tuple[int, Any]],
    outcomes: dict[int, service.FactOutcome],
    id_of: Callable[[Any], str],
) -> BatchOut:
    path = request.url.path
    results = list(bad)
    for index, item in parsed:
        got = outcomes[index]
        if got.problem is not None:
            results.append(batch.refused(index, id_of(item), got.problem, path))
        else:
            results.append(ItemResult(index=index, id=id_of(item), status=got.status))  # type: ignore[arg-type]
    return BatchOut.of(results)


@router.post("/deals:batch", response_model=BatchOut)
async def create_deals(
    body: BatchIn,
    request: Request,
    principal: Writer,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> BatchOut:
    """Up to 1,000 deals (each the body of ``POST /deals``) in one transaction: a result
    per item (``created``, ``exists`` when the same deal is already stored, ``refused``
    with the problem ``POST /deals`` answers); a refused deal writes nothing."""
    parsed, bad = batch.parse_items(
        DealCreate, body.items, id_field="deal_id", instance=request.url.path
    )
    outcomes = await service.record_deal_batch(
        session,
        publisher,
        commission_settings(runtime),
        parsed,
        actor=principal,
        source_ip=client_ip(request),
    )
    return _batch_out(request, bad, parsed, outcomes, lambda d: d.deal_id)


async def _facts(
    model: type[PaymentCreate] | type[RefundCreate] | type[CancellationCreate],
    id_field: str,
    body: BatchIn,
    request: Request,
    principal: Principal,
    session: AsyncSession,
    publisher: Publisher,
    runtime: Runtime,
) -> BatchOut:
    parsed, bad = batch.parse_items(model, body.items, id_field=id_field, instance=request.url.path)
    outcomes = await service.record_fact_batch(
        session,
        publisher,
        commission_settings(runtime),
        parsed,
        actor=principal,
        source_ip=client_ip(request),
    )
    return _batch_out(request, bad, parsed, outcomes, lambda i: getattr(i, id_field))


@router.post("/payments:batch", response_model=BatchOut)
async def create_payments(
    body: BatchIn,
    request: Request,
    principal: Writer,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> BatchOut:
    """Up to 1,000 payments (each the body of ``POST /payments``) in one transaction,
    checked one by one by the same rules (an item refused writes nothing), written
    together; a payment id already stored with the same facts is ``exists`` (send a batch
    again safely)."""
    return await _facts(
        PaymentCreate, "payment_id", body, request, principal, session, publisher, runtime
    )


@router.post("/refunds:batch", response_model=BatchOut)
async def create_refunds(
    body: BatchIn,
    request: Request,
    principal: Writer,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> BatchOut:
    """Up to 1,000 refunds (each the body of ``POST /refunds``), as ``payments:batch``."""
    return await _facts(
        RefundCreate, "refund_id", body, request, principal, session, publisher, runtime
    )


@router.post("/cancellations:batch", response_model=BatchOut)
async def create_cancellations(
    body: BatchIn,
    request: Request,
    principal: Writer,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
) -> BatchOut:
    """Up to 1,000 cancellations (each ``deal_id`` plus the body of
    ``POST /deals/{deal_id}/cancel``); a deal already cancelled at the same moment is
    ``exists``."""
    return await _facts(
        CancellationCreate, "deal_id", body, request, principal, session, publisher, runtime
    )
