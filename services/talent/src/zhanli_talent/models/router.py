"""The learned component: HR bootstraps it from history, reads its versions and model
cards, activates or rolls back a version."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Path

from zhanli_shared import audit
from zhanli_shared.auth import CurrentPrincipal, require_roles
from zhanli_shared.ml.card import card_markdown
from zhanli_shared.ml.registry import ModelVersion
from zhanli_shared.runtime import PublisherDep, RuntimeDep, SessionDep
from zhanli_talent.access import PROFILE_EDITORS, RECRUITING_STAFF
from zhanli_talent.db import registry
from zhanli_talent.models import service
from zhanli_talent.models.schemas import HistoryImport, ImportOutcome, ModelVersionRead
from zhanli_talent.profiles.schemas import Family
from zhanli_talent.requisitions import service as requisitions
from zhanli_talent.settings import talent_settings

router = APIRouter(prefix="/api/v1/talent", tags=["talent: learned component"])
Version = Annotated[int, Path(ge=1, le=1_000_000)]


def _read(v: ModelVersion) -> ModelVersionRead:
    return ModelVersionRead(**v.to_dict())


@router.post(
    "/models/{job_family}/imports",
    response_model=ImportOutcome,
    dependencies=[Depends(require_roles(*PROFILE_EDITORS))],
)
async def import_history(
    job_family: Family,
    body: HistoryImport,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
    background: BackgroundTasks,
) -> ImportOutcome:
    """Bootstrap the learned component from past candidates with outcomes: rows that
    cannot be read are reported (row, column, reason); leaking or protected feature
    columns, a constant outcome or too few rows are refused (422 naming the field).
    Cross-validated ROC-AUC and Brier score of LightGBM (monotone where it makes sense,
    calibrated) against a logistic regression on the same folds; the better one is kept
    and activated only when it passes the activation bar, then blended into the score
    (the family's open applications are re-scored)."""
    version, outcome, profile = await service.import_history(
        session, publisher, job_family, body, actor=principal
    )
    job_id = None
    if profile is not None:
        job = await requisitions.start_rescore(session, profile, actor=principal)
        background.add_task(
            requisitions.run_rescore, runtime.sessions, job.id, talent_settings(runtime)
        )
        job_id = job.id
    report = outcome.dataset.report.to_dict() if outcome.dataset.report else None
    return ImportOutcome(
        model=_read(version),
        activated=version.status == "active",
        decision=outcome.decision.to_dict(),
        import_report=report,
        fairness=outcome.fairness,
        card=outcome.card,
        profile_version=profile.version if profile else None,
        rescore_job_id=job_id,
    )


@router.get(
    "/models/{job_family}/versions",
    response_model=list[ModelVersionRead],
    dependencies=[Depends(require_roles(*RECRUITING_STAFF))],
)
async def list_versions(job_family: Family, session: SessionDep) -> list[ModelVersionRead]:
    return [_read(v) for v in await registry.versions(session, service.model_name(job_family))]


@router.get(
    "/models/{job_family}/versions/{version}/card",
    dependencies=[Depends(require_roles(*RECRUITING_STAFF))],
)
async def model_card(job_family: Family, version: Version, session: SessionDep) -> dict[str, Any]:
    """The version's model card: intended use, data, validated metrics against the
    baseline, calibration, fairness, limits; ``markdown`` for printing."""
    v = await registry.get(session, service.model_name(job_family), version)
    card = v.card or {}
    return {"card": card, "markdown": card_markdown(card) if card else ""}


@router.post(
    "/models/{job_family}/versions/{version}/activate",
    response_model=ModelVersionRead,
    dependencies=[Depends(require_roles(*PROFILE_EDITORS))],
)
async def activate(
    job_family: Family,
    version: Version,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
) -> ModelVersionRead:
    """Activate a stored version (a rejected one cannot be: 409)."""
    name = service.model_name(job_family)
    v = await registry.activate(session, name, version, by=principal.subject)
    await audit.record(
        session,
        publisher,
        actor=principal,
        action="talent.model.activated",
        entity_type="model",
        entity_id=f"{name}:v{version}",
        before=None,
        after={"status": v.status},
    )
    return _read(v)


@router.post(
    "/models/{job_family}/rollback",
    response_model=ModelVersionRead | None,
    dependencies=[Depends(require_roles(*PROFILE_EDITORS))],
)
async def rollback(
    job_family: Family, principal: CurrentPrincipal, session: SessionDep, publisher: PublisherDep
) -> ModelVersionRead | None:
    """Back to the version before the active one (or to the rules alone: null)."""
    name = service.model_name(job_family)
    v = await registry.rollback(session, name, by=principal.subject)
    await audit.record(
        session,
        publisher,
        actor=principal,
        action="talent.model.rolled_back",
        entity_type="model",
        entity_id=name,
        before=None,
        after={"active_version": v.version if v else None},
    )
    return _read(v) if v else None
