"""The model: configuration of the rules and bands, training runs with progress, versions
with their model cards, activation and rollback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_retention.db import model_registry
from zhanli_retention.modeling import service
from zhanli_retention.modeling.schemas import (
    CardRead,
    Config,
    RunRead,
    TrainRequest,
    VersionList,
    VersionRead,
)
from zhanli_retention.settings import retention_settings
from zhanli_shared.audit import client_ip
from zhanli_shared.auth import Principal, require_roles
from zhanli_shared.ml.card import card_markdown
from zhanli_shared.ml.registry import ModelVersion
from zhanli_shared.runtime import PublisherDep, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/retention", tags=["retention model"])
HrReader = Annotated[Principal, Depends(require_roles("hr_admin", "hr_bp"))]
HrAdmin = Annotated[Principal, Depends(require_roles("hr_admin"))]
VersionPath = Annotated[int, Path(ge=1, le=1_000_000)]


@router.get("/config", response_model=Config)
async def read_config(principal: HrReader, session: SessionDep) -> Config:
    """The early-warning rules' thresholds and the risk bands."""
    return await service.get_config(session)


@router.put("/config", response_model=Config)
async def write_config(
    body: Config, request: Request, principal: HrAdmin, session: SessionDep, publisher: PublisherDep
) -> Config:
    return await service.set_config(
        session, publisher, body, actor=principal, source_ip=client_ip(request)
    )


@router.post("/models/train", response_model=RunRead, status_code=status.HTTP_202_ACCEPTED)
async def train(body: TrainRequest, principal: HrReader, runtime: RuntimeDep) -> RunRead:
    """Retrain from the feature store's history (person-weeks, later cohorts validated).
    Activated only if it beats the rules (and the logistic baseline)."""
    run = await service.start_training(
        runtime, retention_settings(runtime), trigger="manual", by=principal.subject, wait=body.wait
    )
    return RunRead.model_validate(run, from_attributes=True)


@router.get("/models/runs/{run_id}", response_model=RunRead)
async def read_run(run_id: str, principal: HrReader, session: SessionDep) -> RunRead:
    """A run's progress (0..1) and stage, then its outcome."""
    return RunRead.model_validate(await service.get_run(session, run_id), from_attributes=True)


@router.get("/models", response_model=VersionList)
async def list_versions(principal: HrReader, session: SessionDep) -> VersionList:
    versions = await model_registry.versions(session, service.MODEL_NAME)
    active = next((v for v in versions if v.status == "active"), None)
    return VersionList(
        name=service.MODEL_NAME,
        active_version=active.version if active else None,
        basis="model" if active else "rules",
        basis_reason=(
            f"version {active.version} is active"
            if active
            else await service.fallback_reason(session)
        ),
        items=[VersionRead.model_validate(v.to_dict()) for v in versions],
    )


@router.get("/models/{version}/card", response_model=CardRead)
async def read_card(version: VersionPath, principal: HrReader, session: SessionDep) -> CardRead:
    """The model card of a version (data, features, metrics, limits, intended use)."""
    found = await _version(session, version)
    card = dict(found.card or {})
    card["version"] = found.version
    return CardRead(name=found.name, version=found.version, card=card, markdown=card_markdown(card))


@router.post("/models/{version}/activate", response_model=VersionRead)
async def activate(
    version: VersionPath,
    request: Request,
    principal: HrAdmin,
    session: SessionDep,
    publisher: PublisherDep,
) -> VersionRead:
    await _version(session, version)
    found = await service.activate(
        session, publisher, version, actor=principal, source_ip=client_ip(request)
    )
    return VersionRead.model_validate(found.to_dict())


@router.post("/models/rollback", response_model=VersionList)
async def rollback(
    request: Request, principal: HrAdmin, session: SessionDep, publisher: PublisherDep
) -> VersionList:
    """Back to the version the active one replaced (or to the rules when there is none)."""
    await service.rollback(session, publisher, actor=principal, source_ip=client_ip(request))
    return await list_versions(principal, session)


async def _version(session: AsyncSession, version: int) -> ModelVersion:
    return await model_registry.get(session, service.MODEL_NAME, version)
