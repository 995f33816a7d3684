"""Catalogue import from CSV (UTF-8/GBK) or XLSX, read with ``zhanli_shared.tabular`` like
the directory's HRIS import: **valid rows are applied, bad rows reported** (row, column,
message), and importing the same file again changes nothing (unchanged rows write and
audit nothing).

A courses file is read whole first (a catalogue is thousands of rows, not millions) so a
row may name a prerequisite further down: rows are checked on their own, then against the
catalogue plus the file's other valid rows; a row naming an unknown course, or closing a
cycle (named in the message), is refused with the rows that depend on it.

Columns (Chinese or English headers):
- courses: 课程编号/course_id, 中文名称/title_zh, 英文名称/title_en, 形式/format,
  时长分钟/duration_minutes, 技能/skills (``skill:points;skill:points``), 先修课程/
  prerequisites (``A;B``), 必修岗位/required_for (``salesperson;...``), 及格分/quiz_pass_score
- skills: 技能编号/skill_id, 中文名称/name_zh, 英文名称/name_en, 类别/category
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_learning.catalogue import repository, service
from zhanli_learning.catalogue.models import CatalogueImport
from zhanli_learning.catalogue.schemas import CourseWrite, SkillWrite
from zhanli_learning.core.graph import find_cycle
from zhanli_shared import tabular
from zhanli_shared.auth import Principal
from zhanli_shared.db import utcnow
from zhanli_shared.events.outbox import Publisher

MAX_ROWS = 20_000
MAX_ERRORS = 1000

COURSE_COLUMNS: dict[str, tuple[str, ...]] = {
    "course_id": ("课程编号", "课程代码", "course_id", "code"),
    "title_zh": ("中文名称", "课程名称", "title_zh"),
    "title_en": ("英文名称", "title_en", "title"),
    "format": ("形式", "课程形式", "format"),
    "duration_minutes": ("时长分钟", "时长(分钟)", "时长", "duration_minutes", "minutes"),
    "skills": ("技能", "skills"),
    "prerequisites": ("先修课程", "前置课程", "prerequisites"),
    "required_for": ("必修岗位", "required_for"),
    "quiz_pass_score": ("及格分", "quiz_pass_score"),
}
SKILL_COLUMNS: dict[str, tuple[str, ...]] = {
    "skill_id": ("技能编号", "skill_id", "code"),
    "name_zh": ("中文名称", "技能名称", "name_zh"),
    "name_en": ("英文名称", "name_en", "name"),
    "category": ("类别", "category"),
}
FORMAT_WORDS = {
    "线上": "online",
    "在线": "online",
    "视频": "video",
    "面授": "classroom",
    "课堂": "classroom",
    "直播": "live",
    "带教": "mentor_task",
    "导师任务": "mentor_task",
    "在岗": "on_the_job",
}
_SPLIT = re.compile(r"[;；,，、|\s]+")


class RowError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _list(value: Any) -> list[str]:
    return [p for p in _SPLIT.split(_text(value)) if p]


def _int(value: Any, field: str) -> int | None:
    text = _text(value)
    if not text:
        return None
    try:
        return int(float(text))
    except ValueError:
        raise RowError(field, f"{text[:40]!r} is not a number.") from None


def parse_course(
    values: dict[str, Any], stored: dict[str, Any] | None = None
) -> tuple[str, CourseWrite]:
    """The row as a course write. A column absent from the file keeps what is stored
    (``stored``: the course's current values); a present column's cell is the value."""
    if values.get("__extra__"):
        raise RowError("row", "The row has more cells than the header.")
    course_id = _text(values.get("course_id"))
    if not course_id:
        raise RowError("course_id", "The course id is empty.")
    raw: dict[str, Any] = dict(stored or {})
    raw.pop("active", None)
    if "skills" in values:
        skills: dict[str, int] = {}
        for part in _list(values.get("skills")):
            skill, sep, points = part.replace("：", ":").partition(":")
            try:
                skills[skill.strip()] = int(points) if sep else 0
            except ValueError:
                raise RowError("skills", f"{part!r} is not 'skill:points'.") from None
        raw["skills"] = skills
    if "format" in values:
        fmt = _text(values.get("format")) or "online"
        raw["format"] = FORMAT_WORDS.get(fmt, fmt.lower())
    for key in ("title_zh", "title_en"):
        if key in values:
            raw[key] = _text(values.get(key))
    for key in ("duration_minutes", "quiz_pass_score"):
        if key in values:
            raw[key] = _int(values.get(key), key)
    for key in ("prerequisites", "required_for"):
        if key in values:
            raw[key] = _list(values.get(key))
    try:
        return course_id, CourseWrite.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else "row"
        raise RowError(field, err["msg"]) from None


def parse_skill(values: dict[str, Any]) -> tuple[str, SkillWrite]:
    if values.get("__extra__"):
        raise RowError("row", "The row has more cells than the header.")
    skill_id = _text(values.get("skill_id"))
    if not skill_id:
        raise RowError("skill_id", "The skill id is empty.")
    raw = {k: _text(values.get(k)) for k in ("name_zh", "name_en", "category")}
    try:
        return skill_id, SkillWrite.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise RowError(str(err["loc"][0]) if err["loc"] else "row", err["msg"]) from None


class Report:
    def __init__(self) -> None:
        self.read = self.applied = self.unchanged = self.failed = 0
        self.errors: list[dict[str, Any]] = []

    def error(self, row: int, field: str, message: str) -> None:
        self.failed += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"row": row, "field": field, "message": message})


async def run_import(
    session: AsyncSession,
    publisher: Publisher,
    actor: Principal,
    kind: str,
    chunks: AsyncIterator[bytes],
    media_type: str,
    charset: str | None,
) -> CatalogueImport:
    """Read, check and apply the file in the caller's transaction; each row in its own
    savepoint so a bad row never half-writes. FileError for an unreadable file."""
    columns = COURSE_COLUMNS if kind == "courses" else SKILL_COLUMNS
    required = ("course_id",) if kind == "courses" else ("skill_id",)
    rows: list[tabular.Record] = []
    async for record in tabular.records(
        tabular.stream_rows(chunks, media_type, charset), columns, required
    ):
        rows.append(record)
        if len(rows) > MAX_ROWS:
            raise tabular.FileError(f"More than {MAX_ROWS} rows: split the file.")
    report = Report()
    report.read = len(rows)
    if kind == "skills":
        await _apply_skills(session, publisher, actor, rows, report)
    else:
        await _apply_courses(session, publisher, actor, rows, report)
    job = CatalogueImport(
        id=str(uuid.uuid4()),
        kind=kind,
        status="done",
        rows_read=report.read,
        rows_applied=report.applied,
        rows_unchanged=report.unchanged,
        rows_failed=report.failed,
        errors=report.errors,
        created_by=actor.subject,
        created_at=utcnow(),
    )
    session.add(job)
    await session.flush()
    return job


async def _apply_skills(
    session: AsyncSession,
    publisher: Publisher,
    actor: Principal,
    rows: list[tabular.Record],
    report: Report,
) -> None:
    seen: dict[str, int] = {}
    for record in rows:
        try:
            skill_id, data = parse_skill(record.values)
            if skill_id in seen:
                raise RowError("skill_id", f"{skill_id!r} is already on row {seen[skill_id]}.")
            seen[skill_id] = record.row
            async with session.begin_nested():
                _, changed = await service.upsert_skill(session, publisher, actor, skill_id, data)
        except RowError as exc:
            report.error(record.row, exc.field, exc.message)
            continue
        except Exception as exc:  # a problem of the row's own write (e.g. a bad id)
            message = getattr(exc, "detail", None) or str(exc)
            report.error(record.row, getattr(exc, "field", None) or "row", str(message))
            continue
        if changed:
            report.applied += 1
        else:
            report.unchanged += 1


async def _apply_courses(
    session: AsyncSession,
    publisher: Publisher,
    actor: Principal,
    rows: list[tabular.Record],
    report: Report,
) -> None:
    skill_ids = await repository.skill_ids(session)
    stored = await repository.prerequisite_map(session)
    current = {c.course_id: c for c in await repository.courses(session)}
    retired = {cid for cid, c in current.items() if not c.active}
    parsed: dict[str, tuple[int, CourseWrite]] = {}
    for record in rows:
        try:
            cid = _text(record.values.get("course_id"))
            known = current.get(cid)
            was = {k: getattr(known, k) for k in service.course_values_keys()} if known else None
            course_id, data = parse_course(record.values, was)
            if course_id in parsed:
                raise RowError(
                    "course_id", f"{course_id!r} is already on row {parsed[course_id][0]}."
                )
            service.check_id(course_id, "course_id")
            for skill in data.skills:
                if skill not in skill_ids:
                    raise RowError(f"skills.{skill}", f"Unknown skill {skill!r}.")
            parsed[course_id] = (record.row, data)
        except RowError as exc:
            report.error(record.row, exc.field, exc.message)
        except Exception as exc:
            report.error(record.row, getattr(exc, "field", None) or "row", str(exc))
    # the graph of the stored catalogue with the file's rows: drop rows naming an unknown
    # or retired course, then rows closing a cycle, until what is left is consistent
    while True:
        graph = dict(stored)
        for cid, (_, data) in parsed.items():
            graph[cid] = set(data.prerequisites)
        bad: dict[str, tuple[str, str]] = {}
        for cid, (_, data) in parsed.items():
            for i, p in enumerate(data.prerequisites):
                if p == cid:
                    bad[cid] = (f"prerequisites.{i}", "A course cannot be its own prerequisite.")
                elif p not in graph:
                    bad[cid] = (f"prerequisites.{i}", f"Unknown course {p!r}.")
                elif p in retired and p not in parsed:
                    bad[cid] = (f"prerequisites.{i}", f"Course {p!r} is retired.")
                else:
                    continue
                break
        if not bad:
            cycle = find_cycle(graph)
            if cycle is None:
                break
            text = "The prerequisites form a cycle: " + " -> ".join(cycle) + "."
            in_file = [c for c in cycle[:-1] if c in parsed]
            if not in_file:  # pragma: no cover - the stored catalogue is acyclic
                break
            for cid in in_file:
                bad[cid] = ("prerequisites", text)
        for cid, (field, message) in bad.items():
            row, _ = parsed.pop(cid)
            report.error(row, field, message)
    order = [cid for cid in _in_order(parsed)]
    for cid in order:
        row, data = parsed[cid]
        try:
            async with session.begin_nested():
                _, action = await service.upsert_course(
                    session, publisher, actor, cid, data, checked=True
                )
        except Exception as exc:
            report.error(row, getattr(exc, "field", None) or "row", str(exc))
            continue
        if action == "unchanged":
            report.unchanged += 1
        else:
            report.applied += 1
    report.errors.sort(key=lambda e: e["row"])


def _in_order(parsed: dict[str, tuple[int, CourseWrite]]) -> list[str]:
    """The file's rows in file order (the graph is already known to be acyclic)."""
    return sorted(parsed, key=lambda c: parsed[c][0])
