"""Protected attributes for the fairness report (HR only): stored apart from the features."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from zhanli_retention.features import repository
from zhanli_retention.features.schemas import AttributesRead, ProtectedAttributes
from zhanli_shared import audit
from zhanli_shared.audit import client_ip
from zhanli_shared.auth import Principal, require_roles
from zhanli_shared.db import utcnow
from zhanli_shared.runtime import PublisherDep, SessionDep

router = APIRouter(prefix="/api/v1/retention", tags=["retention features"])
HrAdmin = Annotated[Principal, Depends(require_roles("hr_admin"))]


@router.put("/people/{employee_id}/attributes", response_model=AttributesRead)
async def set_attributes(
    employee_id: str,
    body: ProtectedAttributes,
    request: Request,
    principal: HrAdmin,
    session: SessionDep,
    publisher: PublisherDep,
) -> AttributesRead:
    row = await repository.ensure_person(session, employee_id)
    before = dict(row.protected or {})
    row.protected = body.model_dump(exclude_none=True)
    row.updated_at = utcnow()
    await audit.record(
        session,
        publisher,
        actor=principal,
        action="retention.attributes.updated",
        entity_type="retention_person",
        entity_id=employee_id,
        before={
            k: "changed" if before.get(k) != row.protected.get(k) else "unchanged"
            for k in ("gender", "age_band")
        },
        after=None,
        source_ip=client_ip(request),
    )
    return AttributesRead(employee_id=employee_id, protected=body)
