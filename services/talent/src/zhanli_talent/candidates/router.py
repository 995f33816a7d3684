"""Candidates: HR and recruiters create them and upload resumes; a hiring manager reads
the candidates of their requisitions (contact data masked); duplicates wait for a
person's merge or dismissal."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.requests import ClientDisconnect

from zhanli_shared.auth import CurrentPrincipal, Principal, Role, require_roles
from zhanli_shared.crypto import FieldCipher
from zhanli_shared.errors import ProblemError, Unprocessable
from zhanli_shared.runtime import CipherDep, PublisherDep, RuntimeDep, SessionDep
from zhanli_talent.access import RECRUITING_STAFF, require_candidate
from zhanli_talent.candidates import repository, service
from zhanli_talent.candidates.models import Candidate
from zhanli_talent.candidates.schemas import (
    AssessmentRead,
    AssessmentWrite,
    CandidateRead,
    CandidateWrite,
    DismissRequest,
    DuplicateRead,
    MergeRequest,
    ResumeRead,
)
from zhanli_talent.core import extraction
from zhanli_talent.requisitions import service as requisitions
from zhanli_talent.settings import talent_settings

router = APIRouter(prefix="/api/v1/talent", tags=["talent: candidates"])
STAFF = tuple(RECRUITING_STAFF)
CONTACT_READERS = frozenset({Role.HR_ADMIN, Role.HR_BP, Role.RECRUITER})
CandidateId = Annotated[str, Query(min_length=1, max_length=36)]


class FileProblem(ProblemError):
    """A resume file refused (413 too large, 415 not what it claims, 422 unreadable)."""

    code, title = "bad-file", "The file cannot be used"

    def __init__(self, error: extraction.ResumeFileError) -> None:
        super().__init__(error.message, field=error.field)
        self.status = error.status


async def _read(
    session: SessionDep, c: Candidate, principal: Principal, cipher: FieldCipher
) -> CandidateRead:
    full = principal.has_any(CONTACT_READERS)
    out = CandidateRead.model_validate(c).model_copy(
        update=service.contact(c, cipher, full=full)
        | {
            "duplicates": [
                DuplicateRead.model_validate(d) for d in await repository.pairs_of(session, c.id)
            ]
        }
    )
    if not principal.has_any(CONTACT_READERS):  # protected attributes: HR only
        out = out.model_copy(update={"gender": None, "birth_year": None})
    return out


@router.post(
    "/candidates",
    response_model=CandidateRead,
    status_code=201,
    dependencies=[Depends(require_roles(*STAFF))],
)
async def create_candidate(
    body: CandidateWrite,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    cipher: CipherDep,
    runtime: RuntimeDep,
) -> CandidateRead:
    """Create a candidate; one sharing a phone or email with another is created and the
    pair flagged in ``duplicates`` for a person to merge or dismiss."""
    index = service.ContactIndex.from_settings(talent_settings(runtime), cipher)
    c = await service.create(session, publisher, cipher, index, body, actor=principal)
    return await _read(session, c, principal, cipher)


@router.get("/candidates/{candidate_id}", response_model=CandidateRead)
async def read_candidate(
    candidate_id: str, principal: CurrentPrincipal, session: SessionDep, cipher: CipherDep
) -> CandidateRead:
    c = await service.get(session, candidate_id)
    await require_candidate(session, principal, candidate_id)
    return await _read(session, c, principal, cipher)


@router.get("/candidates/{candidate_id}/resume", response_model=ResumeRead)
async def read_resume(
    candidate_id: str, principal: CurrentPrincipal, session: SessionDep
) -> ResumeRead:
    c = await service.get(session, candidate_id)
    await require_candidate(session, principal, candidate_id)
    return ResumeRead(
        candidate_id=c.id,
        filename=c.resume_filename,
        kind=c.resume_kind,
        encoding=c.resume_encoding,
        text=c.resume_text,
        skills=c.skills or [],
        doc_length=c.doc_length,
    )


RESUME_BODY = {
    "required": True,
    "description": "The resume file as the raw body (not multipart): .txt (UTF-8 or GBK), "
    ".docx or .pdf; name it with ?filename= (or send its media type). The content must be "
    "what the name says; the size limit is ZHANLI_TALENT_RESUME_MAX_BYTES (5 MiB).",
    "content": {
        "text/plain": {"schema": {"type": "string"}},
        "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document": {
            "schema": {"type": "string", "format": "binary"}
        },
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    },
}


@router.put(
    "/candidates/{candidate_id}/resume",
    response_model=ResumeRead,
    dependencies=[Depends(require_roles(*STAFF))],
    openapi_extra={"requestBody": RESUME_BODY},
    responses={
        413: {"description": "Larger than the limit"},
        415: {"description": "Not .txt/.docx/.pdf, or not what it claims"},
    },
)
async def upload_resume(
    candidate_id: str,
    request: Request,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    runtime: RuntimeDep,
    filename: Annotated[str | None, Query(max_length=255, examples=["简历.txt"])] = None,
) -> ResumeRead:
    """Replace the candidate's resume: text extracted, segmented and scored again in
    every open application. Refused whole (nothing written) when the file is empty,
    too large, unreadable, or not what its name or media type says."""
    await service.get(session, candidate_id)
    limit = talent_settings(runtime).resume_max_bytes
    data = bytearray()
    try:
        async for chunk in request.stream():
            data.extend(chunk)
            if len(data) > limit:
                raise FileProblem(
                    extraction.ResumeFileError(
                        f"The file is larger than the limit of {limit} bytes.", status=413
                    )
                )
    except ClientDisconnect as exc:
        raise Unprocessable("The upload was interrupted.", field="file") from exc
    try:
        kind = extraction.kind_of(filename, request.headers.get("content-type"))
        extracted = extraction.extract(bytes(data), kind, max_bytes=limit)
    except extraction.ResumeFileError as exc:
        raise FileProblem(exc) from exc
    c = await service.upload_resume(
        session, publisher, candidate_id, extracted, filename, actor=principal
    )
    await requisitions.rescore_candidate(session, c.id)
    return ResumeRead(
        candidate_id=c.id,
        filename=c.resume_filename,
        kind=c.resume_kind,
        encoding=c.resume_encoding,
        text=c.resume_text,
        skills=c.skills or [],
        doc_length=c.doc_length,
        truncated=extracted.truncated,
    )


@router.post(
    "/candidates/{candidate_id}/assessments",
    response_model=AssessmentRead,
    status_code=201,
    dependencies=[Depends(require_roles(*STAFF))],
)
async def add_assessment(
    candidate_id: str,
    body: AssessmentWrite,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
) -> AssessmentRead:
    """Record a result (situational sales simulation, stress-resilience test ...); the
    candidate's open applications are scored again."""
    a = await service.add_assessment(session, publisher, candidate_id, body, actor=principal)
    await requisitions.rescore_candidate(session, candidate_id)
    return AssessmentRead.model_validate(a)


@router.get("/candidates/{candidate_id}/assessments", response_model=list[AssessmentRead])
async def list_assessments(
    candidate_id: str, principal: CurrentPrincipal, session: SessionDep
) -> list[AssessmentRead]:
    await service.get(session, candidate_id)
    await require_candidate(session, principal, candidate_id)
    return [
        AssessmentRead.model_validate(a)
        for a in await repository.assessments_of(session, [candidate_id])
    ]


@router.get(
    "/duplicates",
    response_model=list[DuplicateRead],
    dependencies=[Depends(require_roles(*STAFF))],
)
async def list_duplicates(
    session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[DuplicateRead]:
    """Open duplicate pairs (same phone or email), newest first, for a person to decide."""
    return [DuplicateRead.model_validate(d) for d in await repository.open_pairs(session, limit)]


@router.post(
    "/candidates/{candidate_id}/merge",
    response_model=CandidateRead,
    dependencies=[Depends(require_roles(*STAFF))],
)
async def merge_candidate(
    candidate_id: str,
    body: MergeRequest,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
    cipher: CipherDep,
) -> CandidateRead:
    """Merge a flagged duplicate into this candidate (a person's decision, audited)."""
    c = await service.merge(
        session, publisher, cipher, candidate_id, body.duplicate_id, actor=principal
    )
    await requisitions.rescore_candidate(session, c.id)
    return await _read(session, c, principal, cipher)


@router.post(
    "/candidates/{candidate_id}/duplicates/dismiss",
    response_model=DuplicateRead,
    dependencies=[Depends(require_roles(*STAFF))],
)
async def dismiss_duplicate(
    candidate_id: str,
    body: DismissRequest,
    principal: CurrentPrincipal,
    session: SessionDep,
    publisher: PublisherDep,
) -> DuplicateRead:
    """Not the same person after all: the pair is closed, both stay."""
    pair = await service.dismiss(session, publisher, candidate_id, body.other_id, actor=principal)
    return DuplicateRead.model_validate(pair)
