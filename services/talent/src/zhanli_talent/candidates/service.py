"""Candidate use cases: create (contact data encrypted, duplicates flagged for a person),
resume upload (extracted and tokenised once), assessments, merge or dismiss duplicates."""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_shared import audit
from zhanli_shared.auth import Principal
from zhanli_shared.crypto import FieldCipher, mask, mask_phone
from zhanli_shared.db import utcnow
from zhanli_shared.errors import Conflict, NotFound, Unprocessable
from zhanli_shared.events.outbox import Publisher
from zhanli_talent.auditing import exact
from zhanli_talent.candidates import repository
from zhanli_talent.candidates.models import Assessment, Candidate, DuplicatePair
from zhanli_talent.candidates.schemas import AssessmentWrite, CandidateWrite
from zhanli_talent.core.extraction import Extracted
from zhanli_talent.core.text import analyzer
from zhanli_talent.requisitions.models import Application
from zhanli_talent.settings import TalentSettings


def _context(candidate_id: str, field: str) -> str:
    return f"talent:candidates:{candidate_id}:{field}"


def normalise_phone(phone: str) -> str:
    digits = re.sub(r"[^0-9]", "", phone)
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return mask(local, 1, 1) + "@" + domain


class ContactIndex:
    """A blind index (HMAC-SHA256) of normalised phones and emails: equal contacts find
    each other without decrypting anyone's, and the index alone reveals nothing."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def from_settings(cls, settings: TalentSettings, cipher: FieldCipher) -> ContactIndex:
        if settings.contact_index_key is not None:
            return cls(settings.contact_index_key.get_secret_value().encode())
        oldest = cipher.keyring.to_text().split(",")[-1]  # "kid:key" of the oldest key
        return cls(hashlib.sha256(b"zhanli/talent/contact-index:" + oldest.encode()).digest())

    def of(self, kind: str, value: str | None) -> str | None:
        if not value:
            return None
        norm = normalise_phone(value) if kind == "phone" else value.strip().lower()
        return hmac.new(self._key, f"{kind}:{norm}".encode(), hashlib.sha256).hexdigest()


def contact(c: Candidate, cipher: FieldCipher, *, full: bool) -> dict[str, str | None]:
    out: dict[str, str | None] = {"phone": None, "email": None}
    if c.phone_enc:
        phone = cipher.decrypt(c.phone_enc, context=_context(c.id, "phone"))
        out["phone"] = phone if full else mask_phone(phone)
    if c.email_enc:
        email = cipher.decrypt(c.email_enc, context=_context(c.id, "email"))
        out["email"] = email if full else mask_email(email)
    return out


def _state(c: Candidate) -> dict[str, Any]:
    """What the audit log keeps of a candidate: never the contact data in clear."""
    return {
        "name": c.name,
        "phone_set": c.phone_enc is not None,
        "email_set": c.email_enc is not None,
        "source": c.source,
        "resume": c.resume_filename,
        "merged_into": c.merged_into,
    }


def apply_resume(
    c: Candidate, text: str, *, filename: str | None, kind: str | None, encoding: str | None
) -> None:
    kw = analyzer().keywords(text)
    c.resume_text, c.resume_filename, c.resume_kind = text, filename, kind
    c.resume_encoding, c.token_counts, c.doc_length = encoding, kw.counts, kw.length
    c.skills = kw.skills
    c.updated_at = utcnow()


async def create(
    session: AsyncSession,
    publisher: Publisher,
    cipher: FieldCipher,
    index: ContactIndex,
    data: CandidateWrite,
    *,
    actor: Principal,
) -> Candidate:
    now = utcnow()
    cid = str(uuid.uuid4())
    c = Candidate(
        id=cid,
        name=data.name,
        phone_enc=cipher.encrypt(data.phone, context=_context(cid, "phone"))
        if data.phone
        else None,
        email_enc=cipher.encrypt(data.email, context=_context(cid, "email"))
        if data.email
        else None,
        phone_index=index.of("phone", data.phone),
        email_index=index.of("email", data.email),
        gender=data.gender,
        birth_year=data.birth_year,
        source=data.source,
        token_counts={},
        doc_length=0,
        skills=[],
        created_by=actor.subject,
        created_at=now,
        updated_at=now,
    )
    if data.resume_text is not None:
        if not data.resume_text.strip():
            raise Unprocessable("The resume text is empty.", field="resume_text")
        apply_resume(c, data.resume_text, filename=None, kind="text", encoding=None)
    session.add(c)
    await session.flush()
    await flag_duplicates(session, c)
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="talent.candidate.created",
        entity_type="candidate",
        entity_id=cid,
        before=None,
        after=_state(c),
    )
    return c


async def flag_duplicates(session: AsyncSession, c: Candidate) -> list[DuplicatePair]:
    """Open a pair for every other candidate with the same phone or email (never merged
    automatically: a person decides)."""
    pairs = []
    for other in await repository.by_contact(session, c.phone_index, c.email_index, c.id):
        if await repository.pair(session, c.id, other.id) is not None:
            continue
        on = [
            k
            for k, mine, theirs in (
                ("phone", c.phone_index, other.phone_index),
                ("email", c.email_index, other.email_index),
            )
            if mine and mine == theirs
        ]
        pair = DuplicatePair(
            id=str(uuid.uuid4()),
            candidate_id=c.id,
            other_id=other.id,
            matched_on=on,
            status="open",
            created_at=utcnow(),
        )
        session.add(pair)
        pairs.append(pair)
    await session.flush()
    return pairs


async def get(session: AsyncSession, candidate_id: str) -> Candidate:
    c = await repository.get(session, candidate_id)
    if c is None:
        raise NotFound(f"Unknown candidate {candidate_id!r}.")
    return c


async def upload_resume(
    session: AsyncSession,
    publisher: Publisher,
    candidate_id: str,
    extracted: Extracted,
    filename: str | None,
    *,
    actor: Principal,
) -> Candidate:
    c = await get(session, candidate_id)
    before = _state(c)
    apply_resume(
        c, extracted.text, filename=filename, kind=extracted.kind, encoding=extracted.encoding
    )
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="talent.candidate.resume_uploaded",
        entity_type="candidate",
        entity_id=c.id,
        before=before,
        after=_state(c) | {"resume_text": "changed"},
    )
    return c


async def add_assessment(
    session: AsyncSession,
    publisher: Publisher,
    candidate_id: str,
    data: AssessmentWrite,
    *,
    actor: Principal,
) -> Assessment:
    c = await get(session, candidate_id)
    a = Assessment(
        id=str(uuid.uuid4()),
        candidate_id=c.id,
        kind=data.kind,
        score=data.score,
        max_score=data.max_score,
        taken_on=data.taken_on,
        details=data.details,
        recorded_by=actor.subject,
        recorded_at=utcnow(),
    )
    session.add(a)
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="talent.assessment.recorded",
        entity_type="candidate",
        entity_id=c.id,
        before=None,
        after=exact(
            {"kind": a.kind, "score": a.score, "max_score": a.max_score, "taken_on": a.taken_on}
        ),
    )
    return a


async def merge(
    session: AsyncSession,
    publisher: Publisher,
    cipher: FieldCipher,
    keep_id: str,
    duplicate_id: str,
    *,
    actor: Principal,
) -> Candidate:
    """A person merges ``duplicate_id`` into ``keep_id``: only a flagged pair can merge."""
    if keep_id == duplicate_id:
        raise Unprocessable("A candidate cannot merge into itself.", field="duplicate_id")
    keep, dup = await get(session, keep_id), await get(session, duplicate_id)
    pair = await repository.pair(session, keep_id, duplicate_id)
    if pair is None:
        raise Unprocessable(
            "These candidates share no phone or email: not a flagged duplicate.",
            field="duplicate_id",
        )
    if pair.status != "open" or keep.merged_into or dup.merged_into:
        raise Conflict(f"This duplicate was already {pair.status}.")
    keep_reqs = {
        a.requisition_id
        for a in (
            await session.execute(
                Application.__table__.select().where(Application.candidate_id == keep_id)
            )
        ).all()
    }
    dup_apps = (
        await session.execute(
            Application.__table__.select().where(Application.candidate_id == duplicate_id)
        )
    ).all()
    clash = [a.requisition_id for a in dup_apps if a.requisition_id in keep_reqs]
    if clash:
        raise Conflict(
            f"Both candidates applied to requisition {clash[0]}: withdraw one application first."
        )
    await session.execute(
        update(Application)
        .where(Application.candidate_id == duplicate_id)
        .values(candidate_id=keep_id)
    )
    await session.execute(
        update(Assessment)
        .where(Assessment.candidate_id == duplicate_id)
        .values(candidate_id=keep_id)
    )
    for field in ("phone", "email"):
        if getattr(keep, f"{field}_enc") is None and getattr(dup, f"{field}_enc") is not None:
            plain = cipher.decrypt(getattr(dup, f"{field}_enc"), context=_context(dup.id, field))
            setattr(keep, f"{field}_enc", cipher.encrypt(plain, context=_context(keep.id, field)))
            setattr(keep, f"{field}_index", getattr(dup, f"{field}_index"))
    if not keep.resume_text and dup.resume_text:
        apply_resume(
            keep,
            dup.resume_text,
            filename=dup.resume_filename,
            kind=dup.resume_kind,
            encoding=dup.resume_encoding,
        )
    dup.merged_into = keep.id
    pair.status, pair.decided_by, pair.decided_at = "merged", actor.subject, utcnow()
    keep.updated_at = dup.updated_at = utcnow()
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="talent.candidate.merged",
        entity_type="candidate",
        entity_id=keep.id,
        before={"duplicate": duplicate_id},
        after=_state(keep) | {"merged": duplicate_id, "applications_moved": len(dup_apps)},
    )
    return keep


async def dismiss(
    session: AsyncSession,
    publisher: Publisher,
    candidate_id: str,
    other_id: str,
    *,
    actor: Principal,
) -> DuplicatePair:
    pair = await repository.pair(session, candidate_id, other_id)
    if pair is None:
        raise NotFound("No duplicate flagged between these candidates.")
    if pair.status != "open":
        raise Conflict(f"This duplicate was already {pair.status}.")
    pair.status, pair.decided_by, pair.decided_at = "dismissed", actor.subject, utcnow()
    await session.flush()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="talent.candidate.duplicate_dismissed",
        entity_type="candidate",
        entity_id=candidate_id,
        before={"other": other_id, "status": "open"},
        after={"other": other_id, "status": "dismissed"},
    )
    return pair
