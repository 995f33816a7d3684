"""Audit API for auditors: search, export (streamed), verify the chain.

There is no ``auditor`` role: hr_admin, it_ops and executive read the log. Nobody can
change it through the API (there is no update or delete route).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import structlog
from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from zhanli_audit.audit import checkpoints, repository, service
from zhanli_audit.audit.repository import Filters
from zhanli_audit.audit.schemas import (
    AuditEntryRead,
    AuditPage,
    Checkpoint,
    VerifyAgainst,
    VerifyResult,
)
from zhanli_audit.settings import AuditSettings
from zhanli_shared.auth import Role, require_roles
from zhanli_shared.errors import Conflict, Unprocessable
from zhanli_shared.runtime import RuntimeDep, SessionDep

log = structlog.get_logger("zhanli.audit")

AUDIT_READERS = (Role.HR_ADMIN, Role.IT_OPS, Role.EXECUTIVE)

router = APIRouter(
    prefix="/api/v1/audit",
    tags=["audit"],
    dependencies=[Depends(require_roles(*AUDIT_READERS))],
)


def filters(
    actor_id: Annotated[str | None, Query(max_length=200)] = None,
    entity_type: Annotated[str | None, Query(max_length=64)] = None,
    entity_id: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    since: Annotated[dt.datetime | None, Query(description="occurred_at >= since")] = None,
    until: Annotated[dt.datetime | None, Query(description="occurred_at < until")] = None,
) -> Filters:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise Unprocessable("Give a time zone (e.g. 2026-11-23T00:00:00+08:00).", field=name)
    return Filters(actor_id, entity_type, entity_id, action, since, until)


FiltersDep = Annotated[Filters, Depends(filters)]


@router.get("/entries", response_model=AuditPage)
async def search_entries(
    session: SessionDep,
    where: FiltersDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[
        int | None, Query(ge=0, le=2**62, description="next_cursor of the previous page")
    ] = None,
    order: Literal["asc", "desc"] = "asc",
) -> AuditPage:
    rows = await repository.search(
        session, where, after_sequence=cursor, limit=limit, descending=order == "desc"
    )
    items = [AuditEntryRead.model_validate(r) for r in rows]
    return AuditPage(items=items, next_cursor=items[-1].sequence if len(items) == limit else None)


@router.get(
    "/entries/export",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}},
)
async def export_entries(
    runtime: RuntimeDep, where: FiltersDep, format: Literal["csv", "jsonl"] = "csv"
) -> StreamingResponse:
    media_type = service.FORMATS[format][0]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        service.export(runtime.sessions, where, format),
        media_type=media_type,
        headers={"content-disposition": f'attachment; filename="audit-{stamp}.{format}"'},
    )


@router.get("/verify", response_model=VerifyResult)
async def verify_chain(runtime: RuntimeDep) -> VerifyResult:
    """Recompute the chain as stored and name the first fault (missing, reordered, altered
    rows). Rows cut from the end and a chain rewritten with fresh hashes need a signed
    checkpoint kept elsewhere: ``POST`` it here."""
    return VerifyResult(**await service.verify(runtime.sessions))


@router.post("/verify", response_model=VerifyResult)
async def verify_chain_against(body: VerifyAgainst, runtime: RuntimeDep) -> VerifyResult:
    """Recompute the chain and hold it against signed checkpoints kept elsewhere: a genuine
    checkpoint whose entry is gone (truncated) or has another hash (rewritten) is named."""
    _, public_pem = _signing_keys(runtime)
    pins = []
    for i, cp in enumerate(body.checkpoints):
        try:
            pins.append(checkpoints.verify_signature(cp.model_dump(), public_pem))
        except checkpoints.CheckpointError as exc:
            raise Unprocessable(str(exc), field=f"checkpoints.{i}") from exc
    result = await service.verify(runtime.sessions, checkpoints=pins)
    return VerifyResult(**result, checkpoints=len(pins))


@router.get("/checkpoint", response_model=Checkpoint)
async def sign_checkpoint(runtime: RuntimeDep) -> Checkpoint:
    """A signed checkpoint of the chain's head, after checking the chain up to it: export
    it (JSON) and keep it elsewhere; ``python -m zhanli_audit checkpoint-verify`` checks it
    offline with the public key (the gateway's JWKS)."""
    private_pem, _ = _signing_keys(runtime)
    result = await service.verify(runtime.sessions)
    if not result["ok"]:
        raise Conflict(
            f"The chain is broken at {result['first_bad_sequence']} ({result['fault']}): "
            "no checkpoint is signed over it."
        )
    last = await service.head(runtime.sessions)
    if last is None:
        raise Conflict("The audit log is empty: nothing to sign yet.")
    settings = runtime.settings
    assert isinstance(settings, AuditSettings)
    doc = checkpoints.sign(
        last[0],
        last[1],
        private_pem=private_pem,
        issuer=settings.local_issuer or settings.auth_issuer,
        kid=settings.auth_key_id,
    )
    log.info("audit.checkpoint_signed", sequence=last[0])
    return Checkpoint(**doc)


def _signing_keys(runtime: Any) -> tuple[str, str]:
    settings = runtime.settings
    private_pem = settings.private_key_pem() if isinstance(settings, AuditSettings) else None
    if not private_pem:
        raise Conflict(
            "No signing key: set ZHANLI_AUDIT_AUTH_PRIVATE_KEY_FILE (the gateway's key)."
        )
    return private_pem, checkpoints.public_pem_of(private_pem)
