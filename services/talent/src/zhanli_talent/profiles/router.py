"""Competency profiles: HR writes versions and learns them from top performers; HR,
recruiters and sales managers read them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Path

from zhanli_shared.auth import CurrentPrincipal, Role, require_roles
from zhanli_shared.errors import NotFound
from zhanli_shared.runtime import PublisherDep, RuntimeDep, SessionDep
from zhanli_talent.access import PROFILE_EDITORS, PROFILE_READERS
from zhanli_talent.profiles import repository, service
from zhanli_talent.profiles.models import CompetencyProfile
from zhanli_talent.profiles.schemas import (
    CountRead,
    Family,
    LearnRequest,
    ProfileRead,
    ProfileWrite,
    TraitObservationsWrite,
)
from zhanli_talent.requisitions import service as requisitions
from zhanli_talent.settings import talent_settings

router = APIRouter(prefix="/api/v1/talent", tags=["talent: profiles"])


def _read(p: CompetencyProfile, job_id: str | None = None) -> ProfileRead:
    return ProfileRead.model_validate(p).model_copy(update={"rescore_job_id": job_id})


@router.get(
    "/profiles",
    response_model=list[ProfileRead],
    dependencies=[Depends(require_roles(*PROFILE_READERS))],
)
async def list_profiles(session: SessionDep) -> list[ProfileRead]:
    """The active version of every job family's profile."""
    return [_read(p) for p in await repository.all_active(session)]


@router.get(
    "/profiles/{job_family}",
    response_model=ProfileRead,
    dependencies=[Depends(require_roles(*PROFILE_READERS))],
)
async def read_profile(job_family: Family, session: SessionDep) -> ProfileRead:
    profile = await repository.active(session, job_family)
    if profile is None:
        raise NotFound(f"No active profile for job family {job_family!r}.")
    return _read(profile)


@router.get(
    "/profiles/{job_family}/versions",
    response_model=list[ProfileRead],
    dependencies=[Depends(require_roles(*PROFILE_READERS))],
)
async def list_versions(job_family: Family, session: SessionDep) -> list[ProfileRead]:
    """Every version, newest first (kept forever; each score names the version it used)."""
    return [_read(p) for p in await repository.versions(session, job_family)]


async def _after_change(
    session: SessionDep,
    runtime: RuntimeDep,
    background: BackgroundTasks,
    profile: CompetencyProfile,
    principal: CurrentPrincipal,
) -> str | None:
    if not profile.active:
        return None
    job = await requisitions.start_rescore(session, profile, actor=principal)
    background.add_task(
        requisitions.run_rescore, runtime.sessions, job.id, talent_settings(runtime)
    )
    return job.id


@router.put(
    "/profiles/{job_family}",
    response_model=ProfileRead,
    dependencies=[Depends(require_roles(*PROFILE_EDITORS))],
)
async def write_profile(
    job_family: Family,
    body: ProfileWrite,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
    background: BackgroundTasks,
) -> ProfileRead:
    """Add the next version (HR's weights, thresholds and keywords) and make it active;
    the family's open applications are re-scored in the background
    (``GET /rescore-jobs/{rescore_job_id}`` shows the progress)."""
    profile = await service.write_version(session, publisher, job_family, body, actor=principal)
    job_id = await _after_change(session, runtime, background, profile, principal)
    return _read(profile, job_id)


@router.post(
    "/profiles/{job_family}/learn",
    response_model=ProfileRead,
    dependencies=[Depends(require_roles(*PROFILE_EDITORS))],
)
async def learn_profile(
    job_family: Family,
    body: LearnRequest,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
    background: BackgroundTasks,
) -> ProfileRead:
    """Learn a version from the top performers (``learned_from`` shows every trait's
    effect size and warnings); a draft unless ``activate``."""
    profile = await service.learn(session, publisher, job_family, body, actor=principal)
    job_id = await _after_change(session, runtime, background, profile, principal)
    return _read(profile, job_id)


@router.post(
    "/profiles/{job_family}/versions/{version}/activate",
    response_model=ProfileRead,
    dependencies=[Depends(require_roles(*PROFILE_EDITORS))],
)
async def activate_version(
    job_family: Family,
    version: Annotated[int, Path(ge=1, le=1_000_000)],
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
    background: BackgroundTasks,
) -> ProfileRead:
    """Make a version active (a roll back is activating an older one)."""
    profile = await service.activate(session, publisher, job_family, version, actor=principal)
    job_id = await _after_change(session, runtime, background, profile, principal)
    return _read(profile, job_id)


@router.put(
    "/trait-observations",
    response_model=CountRead,
    dependencies=[Depends(require_roles(Role.HR_ADMIN, Role.HR_BP, Role.INTEGRATION))],
)
async def put_trait_observations(body: TraitObservationsWrite, session: SessionDep) -> CountRead:
    """Record measured traits of staff (behaviour metrics from the CRM, assessment
    results), the material profiles are learned from. Idempotent per (person, trait, day)."""
    return CountRead(written=await service.record_observations(session, body))
