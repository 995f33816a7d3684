"""Catalogue routes: skills, courses, job-family profiles, imports. Anyone signed in reads
the catalogue; HR writes it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.requests import ClientDisconnect

from zhanli_learning.catalogue import importing, repository, service
from zhanli_learning.catalogue.models import Course, JobFamily
from zhanli_learning.catalogue.schemas import (
    ID,
    CourseRead,
    CourseWrite,
    ImportRead,
    JobFamilyRead,
    JobFamilyWrite,
    SkillRead,
    SkillWrite,
)
from zhanli_shared import tabular
from zhanli_shared.auth import CurrentPrincipal, Role, require_roles
from zhanli_shared.errors import NotFound, ProblemError, Unprocessable
from zhanli_shared.runtime import PublisherDep, SessionDep

router = APIRouter(prefix="/api/v1/learning", tags=["learning catalogue"])
WRITERS = (Role.HR_ADMIN, Role.HR_BP)
Writer = Depends(require_roles(*WRITERS))
SkillId = Annotated[str, Path(pattern=ID)]
CourseId = Annotated[str, Path(pattern=ID)]
FamilyId = Annotated[str, Path(pattern=ID)]


class UnsupportedMediaType(ProblemError):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


@router.get("/skills", response_model=list[SkillRead])
async def list_skills(principal: CurrentPrincipal, session: SessionDep) -> list[SkillRead]:
    return [SkillRead.model_validate(s) for s in await repository.skills(session)]


@router.put("/skills/{skill_id}", response_model=SkillRead, dependencies=[Writer])
async def put_skill(
    skill_id: SkillId,
    body: SkillWrite,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
) -> SkillRead:
    skill, _ = await service.upsert_skill(session, publisher, principal, skill_id, body)
    return SkillRead.model_validate(skill)


@router.get("/courses", response_model=list[CourseRead])
async def list_courses(
    principal: CurrentPrincipal,
    session: SessionDep,
    skill: Annotated[str | None, Query(max_length=64)] = None,
    job_family: Annotated[str | None, Query(max_length=64)] = None,
    include_retired: bool = False,
) -> list[CourseRead]:
    """The catalogue, filtered by a skill a course builds or a family it is required for."""
    out = []
    for c in await repository.courses(session, active_only=not include_retired):
        if skill and skill not in (c.skills or {}):
            continue
        if job_family and job_family not in (c.required_for or []):
            continue
        out.append(CourseRead.model_validate(c))
    return out


@router.get("/courses/{course_id}", response_model=CourseRead)
async def get_course(
    course_id: CourseId, principal: CurrentPrincipal, session: SessionDep
) -> CourseRead:
    course = await session.get(Course, course_id)
    if course is None:
        raise NotFound(f"Unknown course {course_id!r}.")
    return CourseRead.model_validate(course)


@router.put("/courses/{course_id}", response_model=CourseRead, dependencies=[Writer])
async def put_course(
    course_id: CourseId,
    body: CourseWrite,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
) -> CourseRead:
    """Create or change a course. Unknown skills or prerequisites, and prerequisites that
    would close a cycle (the cycle is named), are refused with 422."""
    course, _ = await service.upsert_course(session, publisher, principal, course_id, body)
    return CourseRead.model_validate(course)


@router.delete("/courses/{course_id}", response_model=CourseRead, dependencies=[Writer])
async def retire_course(
    course_id: CourseId,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
) -> CourseRead:
    """Retire a course (kept for the paths that name it, never planned again); 409 while
    an active course needs it."""
    course = await service.retire_course(session, publisher, principal, course_id)
    return CourseRead.model_validate(course)


@router.get("/job-families", response_model=list[JobFamilyRead])
async def list_families(principal: CurrentPrincipal, session: SessionDep) -> list[JobFamilyRead]:
    return [JobFamilyRead.model_validate(f) for f in await repository.families(session)]


@router.get("/job-families/{family_id}", response_model=JobFamilyRead)
async def get_family(
    family_id: FamilyId, principal: CurrentPrincipal, session: SessionDep
) -> JobFamilyRead:
    family = await session.get(JobFamily, family_id)
    if family is None:
        raise NotFound(f"Unknown job family {family_id!r}.")
    return JobFamilyRead.model_validate(family)


@router.put("/job-families/{family_id}", response_model=JobFamilyRead, dependencies=[Writer])
async def put_family(
    family_id: FamilyId,
    body: JobFamilyWrite,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
) -> JobFamilyRead:
    """A job family's competency profile (skill -> required level); the family id is the
    directory's job role."""
    family = await service.upsert_family(session, publisher, principal, family_id, body)
    return JobFamilyRead.model_validate(family)


IMPORT_BODY = {
    "required": True,
    "description": "The file as the raw body: CSV (UTF-8 with or without BOM, or GBK) or "
    "XLSX (first sheet). Header row first; see the README for the columns.",
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        tabular.XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
    },
}


@router.post(
    "/catalogue/imports",
    response_model=ImportRead,
    dependencies=[Writer],
    openapi_extra={"requestBody": IMPORT_BODY},
    responses={415: {"description": "Neither CSV nor XLSX"}},
)
async def import_catalogue(
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    kind: Annotated[Literal["courses", "skills"], Query()] = "courses",
) -> ImportRead:
    """Upsert skills or courses from a file: valid rows applied, bad rows reported (row,
    column, message); importing the same file again changes nothing."""
    try:
        media_type, charset = tabular.content_type(request.headers.get("content-type", ""))
    except tabular.FileError as exc:
        raise UnsupportedMediaType(exc.message, field=exc.field) from exc

    async def chunks() -> AsyncIterator[bytes]:
        try:
            async for chunk in request.stream():
                if chunk:
                    yield chunk
        except ClientDisconnect as exc:
            raise tabular.FileError("The upload was interrupted.") from exc

    try:
        job = await importing.run_import(
            session, publisher, principal, kind, chunks(), media_type, charset
        )
    except tabular.FileError as exc:
        raise Unprocessable(exc.message, field=exc.field) from exc
    return ImportRead.model_validate(job)
