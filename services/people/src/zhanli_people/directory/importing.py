"""HRIS directory sync: upsert org units and people from a CSV or XLSX file.

**Valid rows are applied, bad rows are reported** (not all-or-nothing). That is what HR
teams expect of an HRIS sync: one mistyped phone number must not hold back 4,999 hires,
transfers and leavers, and the report names each rejected row and column so the
spreadsheet can be fixed and *the whole file imported again*, which is safe because the
import is idempotent (unchanged rows write and publish nothing). A row is atomic: its unit
part and its person part are written in one savepoint, so a bad row never half-writes.

Each row goes through the directory's own use cases (``service.upsert_unit``,
``service.move_unit``, ``service.upsert_employee``): encryption of the phone and ID
number, change events and audit entries are exactly those of the single writes. Before
that, each row is compared with what is stored and skipped when nothing changes.

Rows are read as the body arrives (``tabular``), planned against the directory and applied
in batches: each batch is one transaction that also updates the job record (rows read,
applied, unchanged, failed, errors), so ``GET /imports/{id}`` shows the progress from any
service process, and the progress is logged. A row that names a manager, unit or parent
unit that appears only further down the file is held back and retried at the end of the
file. What stays in memory is the org tree, the set of employee ids and the rows held
back, never the file. A dry run plans every row the same way and writes nothing but the
job record.

Columns (Chinese or English headers; unknown columns are ignored): 工号/employee_id,
姓名/name, 部门/unit (the unit's id) are required; 上级/manager, 职位/role, 手机/phone,
身份证号/id_number, 入职日期/hired_on, 状态/status, 离职日期/separated_on,
离职原因/separation_reason (主动离职/辞职, 辞退/开除, 试用期不合格, 其他 or the English
values), 离职说明/separation_detail (a separation sets the status to left); for the
unit: 部门名称/unit_name, 上级部门/parent_unit, 部门类型/unit_kind, 部门负责人/unit_manager.
A row without 工号 but with 部门名称 describes a unit only. Empty cells keep what is
stored, except 上级 (an empty manager removes the manager) when the column is present. A
person appears once per file, and a unit is described the same way on every row that
describes it. Platform roles (permissions) are never set by a file: new people get none,
others keep theirs.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zhanli_people.directory import repository, service, tabular
from zhanli_people.directory.models import DirectoryImport, Employee, OrgUnit
from zhanli_people.directory.schemas import EmployeeWrite, OrgUnitWrite, SeparationWrite
from zhanli_shared import audit
from zhanli_shared.auth import Principal, Role
from zhanli_shared.crypto import FieldCipher
from zhanli_shared.db import utcnow
from zhanli_shared.errors import ProblemError
from zhanli_shared.events.contracts.directory import (
    EmploymentStatus,
    OrgUnitKind,
    SeparationReason,
)
from zhanli_shared.events.outbox import Publisher

log = structlog.get_logger("zhanli.directory.import")

BATCH_ROWS = 200
MAX_ERRORS = 1000
MAX_CHANGES = 1000

STATUS_WORDS = {
    "在职": EmploymentStatus.ACTIVE,
    "正式": EmploymentStatus.ACTIVE,
    "试用": EmploymentStatus.PROBATION,
    "试用期": EmploymentStatus.PROBATION,
    "离职": EmploymentStatus.LEFT,
    "已离职": EmploymentStatus.LEFT,
}
REASON_WORDS = {
    "主动离职": SeparationReason.RESIGNATION,
    "辞职": SeparationReason.RESIGNATION,
    "离职": SeparationReason.RESIGNATION,
    "辞退": SeparationReason.DISMISSAL,
    "开除": SeparationReason.DISMISSAL,
    "解雇": SeparationReason.DISMISSAL,
    "试用期不合格": SeparationReason.FAILED_PROBATION,
    "试用期未通过": SeparationReason.FAILED_PROBATION,
    "未通过试用期": SeparationReason.FAILED_PROBATION,
    "其他": SeparationReason.OTHER,
}
KIND_WORDS = {
    "集团": OrgUnitKind.GROUP,
    "公司": OrgUnitKind.BRANCH,
    "分公司": OrgUnitKind.BRANCH,
    "大区": OrgUnitKind.BRANCH,
    "部门": OrgUnitKind.DEPARTMENT,
    "团队": OrgUnitKind.TEAM,
    "小组": OrgUnitKind.TEAM,
    "组": OrgUnitKind.TEAM,
}
ROLE_WORDS = {
    "销售": "salesperson",
    "销售代表": "salesperson",
    "销售专员": "salesperson",
    "销售经理": "sales_manager",
    "销售主管": "sales_manager",
    "客服": "customer_service",
}
# a field of the write models / services -> the file's column
FIELD_TO_COLUMN = {
    "employee_id": "employee_id",
    "name": "name",
    "org_unit_id": "unit",
    "manager_id": "manager",
    "job_role": "role",
    "phone": "phone",
    "id_number": "id_number",
    "hired_on": "hired_on",
    "status": "status",
    "parent_id": "parent_unit",
    "kind": "unit_kind",
}
UNIT_FIELD_TO_COLUMN = FIELD_TO_COLUMN | {
    "org_unit_id": "unit",
    "name": "unit_name",
    "manager_id": "unit_manager",
}


class RowError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


class Deferred(Exception):
    """The row names something not known yet (maybe further down the file)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


@dataclass
class UnitState:
    name: str
    kind: str
    parent_id: str | None
    manager_id: str | None

    @classmethod
    def of(cls, unit: OrgUnit) -> UnitState:
        return cls(unit.name, unit.kind, unit.parent_id, unit.manager_id)


@dataclass
class UnitPlan:
    data: OrgUnitWrite
    action: str  # created | updated | moved | unchanged
    move: bool
    update: bool
    fields: list[str]


@dataclass
class EmployeePlan:
    data: EmployeeWrite
    action: str  # created | updated | unchanged
    fields: list[str]
    separation: SeparationWrite | None = None


@dataclass
class Progress:
    rows_read: int = 0
    rows_applied: int = 0
    rows_unchanged: int = 0
    rows_failed: int = 0
    counts: dict[str, int] = field(
        default_factory=lambda: {
            "units_created": 0,
            "units_updated": 0,
            "units_moved": 0,
            "employees_created": 0,
            "employees_updated": 0,
            "rows_deferred": 0,
        }
    )
    errors: list[dict[str, Any]] = field(default_factory=list)
    errors_truncated: bool = False
    changes: list[dict[str, Any]] = field(default_factory=list)
    changes_truncated: bool = False

    def error(self, row: int, column: str, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"row": row, "field": column, "message": message})
        else:
            self.errors_truncated = True

    def change(self, row: int, entity: str, entity_id: str, action: str, fields: list[str]) -> None:
        if len(self.changes) < MAX_CHANGES:
            self.changes.append(
                {"row": row, "entity": entity, "id": entity_id, "action": action, "fields": fields}
            )
        else:
            self.changes_truncated = True

    def store(self, job: DirectoryImport) -> None:
        job.rows_read, job.rows_applied = self.rows_read, self.rows_applied
        job.rows_unchanged, job.rows_failed = self.rows_unchanged, self.rows_failed
        job.counts = dict(self.counts)
        job.errors, job.errors_truncated = list(self.errors), self.errors_truncated
        job.changes, job.changes_truncated = list(self.changes), self.changes_truncated
        job.updated_at = utcnow()


# --- cells ------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _date(value: Any, column: str = "hired_on") -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = _text(value)
    m = re.fullmatch(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?", text) or re.fullmatch(
        r"(\d{4})(\d{2})(\d{2})", text
    )
    if not m:
        raise RowError(column, "Not a date: write it as YYYY-MM-DD.")
    try:
        return dt.date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError as exc:
        raise RowError(column, "Not a date: write it as YYYY-MM-DD.") from exc


def _reason(value: Any) -> SeparationReason:
    text = _text(value)
    if text in REASON_WORDS:
        return REASON_WORDS[text]
    try:
        return SeparationReason(text.lower())
    except ValueError as exc:
        allowed = ", ".join([r.value for r in SeparationReason] + list(REASON_WORDS))
        raise RowError(
            "separation_reason", f"Unknown separation reason; one of {allowed}."
        ) from exc


def _status(value: Any) -> EmploymentStatus:
    text = _text(value)
    if text in STATUS_WORDS:
        return STATUS_WORDS[text]
    try:
        return EmploymentStatus(text.lower())
    except ValueError as exc:
        allowed = ", ".join([s.value for s in EmploymentStatus] + list(STATUS_WORDS))
        raise RowError("status", f"Unknown status; one of {allowed}.") from exc


def _kind(value: Any) -> OrgUnitKind:
    text = _text(value)
    if text in KIND_WORDS:
        return KIND_WORDS[text]
    try:
        return OrgUnitKind(text.lower())
    except ValueError as exc:
        allowed = ", ".join([k.value for k in OrgUnitKind] + list(KIND_WORDS))
        raise RowError("unit_kind", f"Unknown unit kind; one of {allowed}.") from exc


def _id_number(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise RowError(
            "id_number",
            "The ID number is a number cell (Excel rounds 18 digits): format the column as text.",
        )
    return _text(value).upper()


def _validation_errors(exc: ValidationError, mapping: dict[str, str]) -> list[tuple[str, str]]:
    out = []
    for e in exc.errors(include_input=False, include_url=False):
        loc = e.get("loc") or ("row",)
        out.append((mapping.get(str(loc[0]), str(loc[0])), str(e.get("msg", "invalid"))))
    return out


class RowErrors(Exception):
    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(m for _, m in errors))
        self.errors = errors


# --- the run ----------------------------------------------------------------------------


class DirectoryImporter:
    """One import job: plans and applies rows, keeps the job record up to date."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        publisher: Publisher,
        cipher: FieldCipher,
        *,
        actor: Principal,
        source_ip: str | None,
        dry_run: bool,
        media_type: str,
        after_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.sessions, self.publisher, self.cipher = sessions, publisher, cipher
        self.actor, self.source_ip, self.dry_run = actor, source_ip, dry_run
        self.media_type = media_type
        self.after_commit = after_commit
        self.job_id = str(uuid.uuid4())
        self.progress = Progress()
        self.units: dict[str, UnitState] = {}
        self.employee_ids: set[str] = set()
        self.unit_rows: dict[str, tuple[int, OrgUnitWrite]] = {}
        self.employee_rows: dict[str, int] = {}
        self.file_error: tabular.FileError | None = None

    # -- job record ----------------------------------------------------------------------

    async def start(self) -> None:
        """Create the job record (committed: visible at once) and load the org tree."""
        now = utcnow()
        async with self.sessions() as session:
            job = DirectoryImport(
                id=self.job_id,
                status="running",
                dry_run=self.dry_run,
                media_type=self.media_type,
                created_by=self.actor.subject,
                created_at=now,
                finished_at=None,
            )
            self.progress.store(job)
            session.add(job)
            self.units = {
                u.org_unit_id: UnitState.of(u) for u in await repository.list_units(session)
            }
            self.employee_ids = await repository.all_employee_ids(session)
            await session.commit()
        log.info(
            "directory.import.started",
            import_id=self.job_id,
            dry_run=self.dry_run,
            media_type=self.media_type,
            actor=self.actor.subject,
        )

    async def finish(
        self, status: str, file_error: tabular.FileError | None = None
    ) -> DirectoryImport:
        self.file_error = file_error
        if file_error is not None:
            self.progress.error(file_error.row or 0, file_error.field, file_error.message)
        async with self.sessions() as session:
            job = await repository.get_import(session, self.job_id)
            assert job is not None
            self.progress.store(job)
            job.status, job.finished_at = status, utcnow()
            if not self.dry_run:
                await audit.record(
                    session,
                    self.publisher,
                    actor=self.actor,
                    action="directory.import.finished",
                    entity_type="directory_import",
                    entity_id=self.job_id,
                    before=None,
                    after={
                        "status": status,
                        "media_type": self.media_type,
                        "rows_read": self.progress.rows_read,
                        "rows_applied": self.progress.rows_applied,
                        "rows_unchanged": self.progress.rows_unchanged,
                        "rows_failed": self.progress.rows_failed,
                        **self.progress.counts,
                    },
                    source_ip=self.source_ip,
                )
            await session.commit()
            await session.refresh(job)
        self.after_commit()
        log.info(
            "directory.import.finished",
            import_id=self.job_id,
            status=status,
            dry_run=self.dry_run,
            rows_read=self.progress.rows_read,
            rows_applied=self.progress.rows_applied,
            rows_unchanged=self.progress.rows_unchanged,
            rows_failed=self.progress.rows_failed,
        )
        return job

    # -- the file ------------------------------------------------------------------------

    async def run(self, records: AsyncIterator[tabular.Record]) -> DirectoryImport:
        """Read, plan and apply every row; the finished job record."""
        await self.start()
        deferred: list[tuple[tabular.Record, Deferred]] = []
        try:
            batch: list[tabular.Record] = []
            async for record in records:
                self.progress.rows_read += 1
                batch.append(record)
                if len(batch) >= BATCH_ROWS:
                    deferred += await self._batch(batch)
                    batch = []
            deferred += await self._batch(batch)
            self.progress.counts["rows_deferred"] = len(deferred)
            while deferred:  # rows naming what came later in the file, until no progress
                before = len(deferred)
                retry: list[tuple[tabular.Record, Deferred]] = []
                for start in range(0, len(deferred), BATCH_ROWS):
                    chunk = [r for r, _ in deferred[start : start + BATCH_ROWS]]
                    retry += await self._batch(chunk, last_pass=False)
                deferred = retry
                if len(deferred) == before:
                    break
            if deferred:
                for start in range(0, len(deferred), BATCH_ROWS):
                    chunk = [r for r, _ in deferred[start : start + BATCH_ROWS]]
                    await self._batch(chunk, last_pass=True)
        except tabular.FileError as exc:
            return await self.finish("failed", exc)
        except Exception:
            log.exception("directory.import.crashed", import_id=self.job_id)
            await self.finish(
                "failed", tabular.FileError("The import stopped on an internal error.")
            )
            raise
        status = "completed_with_errors" if self.progress.rows_failed else "succeeded"
        return await self.finish(status)

    async def _batch(
        self, records: list[tabular.Record], *, last_pass: bool = False
    ) -> list[tuple[tabular.Record, Deferred]]:
        """Plan and apply one batch in one transaction with the job's progress."""
        deferred: list[tuple[tabular.Record, Deferred]] = []
        async with self.sessions() as session:
            ids = [_text(r.values.get("employee_id")) for r in records]
            stored = await repository.employees_by_id(session, [i for i in ids if i])
            for record in records:
                try:
                    await self._row(session, record, stored, last_pass=last_pass)
                except Deferred as exc:
                    deferred.append((record, exc))
            job = await repository.get_import(session, self.job_id)
            assert job is not None
            self.progress.store(job)
            await session.commit()
        if not self.dry_run:
            self.after_commit()
        if records:
            log.info(
                "directory.import.progress",
                import_id=self.job_id,
                rows_read=self.progress.rows_read,
                rows_applied=self.progress.rows_applied,
                rows_unchanged=self.progress.rows_unchanged,
                rows_failed=self.progress.rows_failed,
                rows_waiting=len(deferred),
            )
        return deferred

    async def _row(
        self,
        session: AsyncSession,
        record: tabular.Record,
        stored: dict[str, Employee],
        *,
        last_pass: bool,
    ) -> None:
        row = record.row
        try:
            unit_plan, emp_plan = await self._plan(record, stored)
        except Deferred as exc:
            if not last_pass:
                raise
            self._fail(row, [(exc.field, exc.message)])
            return
        except RowErrors as exc:
            self._fail(row, exc.errors)
            return
        except RowError as exc:
            self._fail(row, [(exc.field, exc.message)])
            return
        changed = (unit_plan is not None and unit_plan.action != "unchanged") or (
            emp_plan is not None and emp_plan.action != "unchanged"
        )
        if changed and not self.dry_run:
            try:
                async with session.begin_nested():
                    await self._apply(session, unit_plan, emp_plan)
            except ProblemError as exc:
                column = FIELD_TO_COLUMN.get(exc.field or "", exc.field or "row")
                self._fail(row, [(column, exc.detail)])
                return
            except ValidationError as exc:
                self._fail(row, _validation_errors(exc, FIELD_TO_COLUMN))
                return
            except IntegrityError:  # written meanwhile by another request: nothing of the row
                self._fail(row, [("row", "Changed by another write meanwhile; import again.")])
                return
        self._record(row, unit_plan, emp_plan, changed)

    def _fail(self, row: int, errors: list[tuple[str, str]]) -> None:
        self.progress.rows_failed += 1
        for column, message in errors:
            self.progress.error(row, column, message)

    def _record(
        self, row: int, unit_plan: UnitPlan | None, emp_plan: EmployeePlan | None, changed: bool
    ) -> None:
        """The plan happened (or, in a dry run, would): update the known tree and counts."""
        if unit_plan is not None:
            d = unit_plan.data
            self.unit_rows.setdefault(d.org_unit_id, (row, d))
            self.units[d.org_unit_id] = UnitState(d.name, d.kind.value, d.parent_id, d.manager_id)
            if unit_plan.action != "unchanged":
                if unit_plan.action == "created":
                    self.progress.counts["units_created"] += 1
                else:
                    if unit_plan.move:
                        self.progress.counts["units_moved"] += 1
                    if unit_plan.update:
                        self.progress.counts["units_updated"] += 1
                self.progress.change(
                    row, "org_unit", d.org_unit_id, unit_plan.action, unit_plan.fields
                )
        if emp_plan is not None:
            e = emp_plan.data
            self.employee_rows[e.employee_id] = row
            self.employee_ids.add(e.employee_id)
            if emp_plan.action != "unchanged":
                self.progress.counts[f"employees_{emp_plan.action}"] += 1
                self.progress.change(
                    row, "employee", e.employee_id, emp_plan.action, emp_plan.fields
                )
        if changed:
            self.progress.rows_applied += 1
        else:
            self.progress.rows_unchanged += 1

    async def _apply(
        self, session: AsyncSession, unit_plan: UnitPlan | None, emp_plan: EmployeePlan | None
    ) -> None:
        kw: dict[str, Any] = {"actor": self.actor, "source_ip": self.source_ip}
        if unit_plan is not None:
            d = unit_plan.data
            if unit_plan.move:
                await service.move_unit(session, self.publisher, d.org_unit_id, d.parent_id, **kw)
            if unit_plan.update:
                await service.upsert_unit(session, self.publisher, d, **kw)
        if emp_plan is not None and emp_plan.action != "unchanged":
            await service.upsert_employee(session, self.publisher, self.cipher, emp_plan.data, **kw)
            if emp_plan.separation is not None:
                await service.record_separation(
                    session, self.publisher, emp_plan.data.employee_id, emp_plan.separation, **kw
                )

    # -- planning ------------------------------------------------------------------------

    def _path(self, unit_id: str) -> list[str]:
        """The unit's path in the tree as planned so far (walks the parents)."""
        path: list[str] = []
        current: str | None = unit_id
        while current is not None and current not in path:
            path.append(current)
            state = self.units.get(current)
            current = state.parent_id if state else None
        return list(reversed(path))

    async def _plan(
        self, record: tabular.Record, stored: dict[str, Employee]
    ) -> tuple[UnitPlan | None, EmployeePlan | None]:
        v = record.values
        errors: list[tuple[str, str]] = []
        if v.get("__extra__"):
            errors.append(("row", "The row has more cells than the header has columns."))
        employee_id = _text(v.get("employee_id"))
        unit_id = _text(v.get("unit"))
        unit_columns = any(
            _text(v.get(c)) for c in ("unit_name", "parent_unit", "unit_kind", "unit_manager")
        )
        if not unit_id:
            errors.append(("unit", "The unit (部门) is required."))
        if not employee_id and not unit_columns:
            errors.append(("employee_id", "The employee id (工号) is required."))
        if errors:
            raise RowErrors(errors)
        unit_plan = self._plan_unit(record, unit_id) if unit_columns else None
        emp_plan = None
        if employee_id:
            emp_plan = self._plan_employee(
                record, employee_id, unit_id, stored.get(employee_id), unit_plan is not None
            )
        return unit_plan, emp_plan

    def _plan_unit(self, record: tabular.Record, unit_id: str) -> UnitPlan:
        v = record.values
        current = self.units.get(unit_id)
        name = _text(v.get("unit_name")) or (current.name if current else "")
        if not name:
            raise RowError("unit_name", f"The new unit {unit_id!r} needs a name (部门名称).")
        kind_text = _text(v.get("unit_kind"))
        if kind_text:
            kind = _kind(kind_text)
        elif current:
            kind = OrgUnitKind(current.kind)
        else:
            kind = OrgUnitKind.TEAM if _text(v.get("parent_unit")) else OrgUnitKind.GROUP
        parent = _text(v.get("parent_unit")) or (current.parent_id if current else None)
        manager = _text(v.get("unit_manager")) or (current.manager_id if current else None)
        try:
            data = OrgUnitWrite(
                org_unit_id=unit_id, name=name, kind=kind, parent_id=parent, manager_id=manager
            )
        except ValidationError as exc:
            raise RowErrors(_validation_errors(exc, UNIT_FIELD_TO_COLUMN)) from exc
        earlier = self.unit_rows.get(unit_id)
        if earlier is not None and earlier[1] != data:
            raise RowError(
                "unit", f"Unit {unit_id!r} is described differently in row {earlier[0]}."
            )
        if parent is not None:
            if parent not in self.units:
                raise Deferred("parent_unit", f"Unknown parent unit {parent!r}.")
            if unit_id in self._path(parent):
                raise RowError(
                    "parent_unit",
                    f"{unit_id!r} cannot sit below {parent!r}: {parent!r} is below {unit_id!r}.",
                )
        if current is None:
            return UnitPlan(data, "created", move=False, update=True, fields=["*"])
        move = parent != current.parent_id
        fields = [
            f
            for f, old, new in (
                ("name", current.name, name),
                ("kind", current.kind, kind.value),
                ("manager_id", current.manager_id, manager),
            )
            if old != new
        ]
        if move:
            return UnitPlan(
                data, "moved", move=True, update=bool(fields), fields=["parent_id", *fields]
            )
        return UnitPlan(
            data,
            "updated" if fields else "unchanged",
            move=False,
            update=bool(fields),
            fields=fields,
        )

    def _plan_employee(
        self,
        record: tabular.Record,
        employee_id: str,
        unit_id: str,
        emp: Employee | None,
        unit_in_row: bool,
    ) -> EmployeePlan:
        v = record.values
        earlier = self.employee_rows.get(employee_id)
        if earlier is not None:
            raise RowError("employee_id", f"{employee_id!r} is already in row {earlier}.")
        errors: list[tuple[str, str]] = []

        def cell(column: str, convert: Callable[[Any], Any], default: Any) -> Any:
            if column not in v or _text(v[column]) == "":
                return default
            try:
                return convert(v[column])
            except RowError as exc:
                errors.append((exc.field, exc.message))
                return default

        name = _text(v.get("name")) or (emp.name if emp else "")
        role = _text(v.get("role"))
        role = ROLE_WORDS.get(role, role) or (emp.job_role if emp else "")
        if not name:
            errors.append(("name", "The name (姓名) is required."))
        if not role:
            errors.append(("role", "The role (职位) is required for a new person."))
        if "manager" in v:
            manager = _text(v["manager"]) or None
        else:
            manager = emp.manager_id if emp else None
        status = cell(
            "status", _status, EmploymentStatus(emp.status) if emp else EmploymentStatus.ACTIVE
        )
        hired_on = cell("hired_on", _date, emp.hired_on if emp else None)
        separated_on = cell("separated_on", lambda x: _date(x, "separated_on"), None)
        reason = cell("separation_reason", _reason, None)
        detail = _text(v.get("separation_detail")) or None
        separation = None
        if (separated_on is None) != (reason is None) and not errors:
            missing = "separation_reason" if reason is None else "separated_on"
            errors.append((missing, "A separation needs both 离职日期 and 离职原因."))
        elif separated_on is not None and reason is not None:
            if "status" in v and _text(v["status"]) and status is not EmploymentStatus.LEFT:
                errors.append(("status", "A person with a separation has the status left."))
            status = EmploymentStatus.LEFT
            if detail is not None and len(detail) > 500:
                errors.append(("separation_detail", "At most 500 characters."))
            else:
                separation = SeparationWrite(
                    separated_on=separated_on, reason=reason, reason_detail=detail
                )
        phone = cell("phone", lambda x: re.sub(r"\s+", "", _text(x)), None)
        id_number = cell("id_number", _id_number, None)
        if errors:
            raise RowErrors(errors)
        try:
            data = EmployeeWrite(
                employee_id=employee_id,
                name=name,
                org_unit_id=unit_id,
                manager_id=manager,
                job_role=role,
                roles=[Role(r) for r in emp.roles] if emp else [],
                status=status,
                hired_on=hired_on,
                phone=phone,
                id_number=id_number,
            )
        except ValidationError as exc:
            raise RowErrors(_validation_errors(exc, FIELD_TO_COLUMN)) from exc
        if unit_id not in self.units and not unit_in_row:
            raise Deferred("unit", f"Unknown org unit {unit_id!r}.")
        if manager and manager != employee_id and manager not in self.employee_ids:
            raise Deferred("manager", f"Unknown manager {manager!r}.")
        if emp is None:
            return EmployeePlan(data, "created", ["*"], separation)
        fields = [
            f
            for f, old, new in (
                ("name", emp.name, data.name),
                ("org_unit_id", emp.org_unit_id, data.org_unit_id),
                ("manager_id", emp.manager_id, data.manager_id),
                ("job_role", emp.job_role, data.job_role),
                ("status", emp.status, data.status.value),
                ("hired_on", emp.hired_on, data.hired_on),
            )
            if old != new
        ]
        if separation is not None:
            fields += [
                f
                for f, old, new in (
                    ("separated_on", emp.separated_on, separation.separated_on),
                    ("separation_reason", emp.separation_reason, separation.reason.value),
                    ("separation_detail", emp.separation_detail, separation.reason_detail),
                )
                if old != new
            ]
        for column, stored_value, new in (
            ("phone", emp.phone_enc, data.phone),
            ("id_number", emp.id_number_enc, data.id_number),
        ):
            if new is not None and (
                stored_value is None
                or self.cipher.decrypt(
                    stored_value, context=service.personal_context(employee_id, column)
                )
                != new
            ):
                fields.append(column)
        return EmployeePlan(data, "updated" if fields else "unchanged", fields, separation)


async def stream_records(
    chunks: AsyncIterator[bytes], media_type: str, charset: str | None
) -> AsyncIterator[tabular.Record]:
    rows = (
        tabular.xlsx_rows(chunks)
        if media_type == tabular.XLSX_MEDIA_TYPE
        else tabular.csv_rows(chunks, charset)
    )
    async for record in tabular.records(rows):
        yield record
