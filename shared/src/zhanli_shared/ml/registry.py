"""Model versions kept in the service's own database: store, activate, roll back.

In the service's ``db.py`` (next to ``define_event_tables``)::

    model_tables = define_model_tables(metadata)     # table "ml_model_versions"
    registry = ModelRegistry(model_tables)

then autogenerate the migration (``python -m zhanli_<svc> revision -m "model registry"``).

A version is a row: ``name`` (e.g. "retention.exit_90d", "talent.match.b2b_saas"), an
increasing ``version`` per name, ``status`` (candidate, active, retired, rejected,
rolled_back), ``kind``, the serialised model as JSON text (LightGBM model string + calibrator
+ feature spec; never a pickle), metrics, model card, training summary. One active version
per name. ``activate`` remembers which version it replaced, ``rollback`` returns to it.
``activation_decision(metrics)`` is the policy: a model that does not beat the baseline and
the rules on validation is not activated. Methods add/flush, never commit (the edge does);
audit the change with ``zhanli_shared.audit.record`` in the same session.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_shared.db import TZDateTime, utcnow
from zhanli_shared.errors import Conflict, NotFound

if TYPE_CHECKING:
    from zhanli_shared.ml.training import TrainedModel

STATUSES = ("candidate", "active", "retired", "rejected", "rolled_back")


@dataclass(frozen=True)
class ModelTables:
    versions: Table


def define_model_tables(metadata: MetaData) -> ModelTables:
    """Add the model registry's table to a service's metadata."""
    versions = Table(
        "ml_model_versions",
        metadata,
        Column("id", String(36), primary_key=True),
        Column("name", String(120), nullable=False),
        Column("version", Integer, nullable=False),
        Column("status", String(20), nullable=False),
        Column("kind", String(20), nullable=False),
        Column("model", Text, nullable=False),
        Column("metrics", JSON, nullable=False),
        Column("card", JSON, nullable=True),
        Column("training", JSON, nullable=True),
        Column("note", Text, nullable=True),
        Column("created_by", String(64), nullable=True),
        Column("created_at", TZDateTime(), nullable=False),
        Column("activated_at", TZDateTime(), nullable=True),
        Column("activated_by", String(64), nullable=True),
        Column("replaced_id", String(36), nullable=True),
        UniqueConstraint("name", "version"),
        Index("ix_ml_model_versions_name_status", "name", "status"),
    )
    return ModelTables(versions=versions)


@dataclass(frozen=True)
class ModelVersion:
    id: str
    name: str
    version: int
    status: str
    kind: str
    metrics: dict[str, Any]
    card: dict[str, Any] | None
    training: dict[str, Any] | None
    note: str | None
    created_by: str | None
    created_at: dt.datetime
    activated_at: dt.datetime | None
    activated_by: str | None
    replaced_id: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "status": self.status,
            "kind": self.kind,
            "metrics": self.metrics,
            "note": self.note,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "activated_at": self.activated_at.isoformat() if self.activated_at else None,
            "activated_by": self.activated_by,
            "replaced_id": self.replaced_id,
        }


@dataclass(frozen=True)
class Decision:
    activate: bool
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"activate": self.activate, "reasons": self.reasons}


def activation_decision(
    metrics: dict[str, Any],
    *,
    candidate: str = "model",
    min_auc_gain: float = 0.0,
    max_brier_loss: float = 0.005,
    min_auc: float = 0.55,
    require_baseline: bool = True,
) -> Decision:
    """Activate only a candidate whose validated ROC-AUC is above ``min_auc``, above the
    rules' (when given) by more than ``min_auc_gain``, above the logistic baseline's (when
    ``require_baseline``), and whose Brier score is not worse than the baseline's by more
    than ``max_brier_loss``. ``candidate="baseline"`` judges the baseline itself against the
    rules (to activate the logistic regression when LightGBM loses to it)."""
    reasons: list[str] = []
    mine = metrics.get(candidate) or {}
    auc = mine.get("roc_auc")
    if auc is None:
        return Decision(False, ["no validated ROC-AUC"])
    ok = True
    if auc < min_auc:
        ok = False
        reasons.append(f"ROC-AUC {auc:.3f} is below the minimum {min_auc:.2f}")
    rules = metrics.get("rules")
    if rules and rules.get("roc_auc") is not None:
        if auc <= rules["roc_auc"] + min_auc_gain:
            ok = False
            reasons.append(f"ROC-AUC {auc:.3f} does not beat the rules ({rules['roc_auc']:.3f})")
        else:
            reasons.append(f"ROC-AUC {auc:.3f} beats the rules ({rules['roc_auc']:.3f})")
    base = metrics.get("baseline")
    if candidate != "baseline" and require_baseline and base and base.get("roc_auc") is not None:
        if auc <= base["roc_auc"] + min_auc_gain:
            ok = False
            reasons.append(
                f"ROC-AUC {auc:.3f} does not beat logistic regression ({base['roc_auc']:.3f})"
            )
        else:
            reasons.append(f"ROC-AUC {auc:.3f} beats logistic regression ({base['roc_auc']:.3f})")
        if mine.get("brier") is not None and base.get("brier") is not None:
            if mine["brier"] > base["brier"] + max_brier_loss:
                ok = False
                reasons.append(
                    f"Brier {mine['brier']:.4f} is worse than logistic regression's "
                    f"({base['brier']:.4f})"
                )
    return Decision(ok, reasons)


class ModelRegistry:
    def __init__(self, tables: ModelTables) -> None:
        self.table = tables.versions
        self._cache: dict[str, TrainedModel] = {}

    def _row(self, row: Any) -> ModelVersion:
        m = row._mapping
        return ModelVersion(
            id=m["id"],
            name=m["name"],
            version=m["version"],
            status=m["status"],
            kind=m["kind"],
            metrics=m["metrics"],
            card=m["card"],
            training=m["training"],
            note=m["note"],
            created_by=m["created_by"],
            created_at=m["created_at"],
            activated_at=m["activated_at"],
            activated_by=m["activated_by"],
            replaced_id=m["replaced_id"],
        )

    def _columns(self) -> list[Any]:
        return [c for c in self.table.c if c.name != "model"]

    async def add(
        self,
        session: AsyncSession,
        name: str,
        model: TrainedModel,
        *,
        metrics: dict[str, Any],
        card: dict[str, Any] | None = None,
        training: dict[str, Any] | None = None,
        note: str | None = None,
        created_by: str | None = None,
        status: str = "candidate",
    ) -> ModelVersion:
        """Store a new version (``candidate`` or ``rejected``); returns it."""
        if status not in ("candidate", "rejected"):
            raise ValueError("a new version is a candidate or rejected; activate() it")
        t = self.table
        latest = (
            await session.execute(select(func.max(t.c.version)).where(t.c.name == name))
        ).scalar()
        version_id = str(uuid.uuid4())
        values = {
            "id": version_id,
            "name": name,
            "version": int(latest or 0) + 1,
            "status": status,
            "kind": model.kind,
            "model": json.dumps(model.to_json(), ensure_ascii=False, allow_nan=False),
            "metrics": _json_safe(metrics),
            "card": _json_safe(card),
            "training": _json_safe(training),
            "note": note,
            "created_by": created_by,
            "created_at": utcnow(),
        }
        await session.execute(t.insert().values(**values))
        found = await self.get(session, name, values["version"])
        return found

    async def get(self, session: AsyncSession, name: str, version: int) -> ModelVersion:
        t = self.table
        row = (
            await session.execute(
                select(*self._columns()).where(t.c.name == name, t.c.version == version)
            )
        ).first()
        if row is None:
            raise NotFound(f"no version {version} of model {name!r}", field="version")
        return self._row(row)

    async def by_id(self, session: AsyncSession, version_id: str) -> ModelVersion:
        row = (
            await session.execute(select(*self._columns()).where(self.table.c.id == version_id))
        ).first()
        if row is None:
            raise NotFound(f"no model version {version_id}", field="id")
        return self._row(row)

    async def versions(self, session: AsyncSession, name: str) -> list[ModelVersion]:
        t = self.table
        rows = await session.execute(
            select(*self._columns()).where(t.c.name == name).order_by(t.c.version.desc())
        )
        return [self._row(r) for r in rows]

    async def active(
        self, session: AsyncSession, name: str, *, for_update: bool = False
    ) -> ModelVersion | None:
        t = self.table
        query = select(*self._columns()).where(t.c.name == name, t.c.status == "active")
        if for_update:
            # Two activations at once queue on PostgreSQL (SQLite takes its write lock up
            # front): never two active versions.
            query = query.with_for_update()
        row = (await session.execute(query)).first()
        return None if row is None else self._row(row)

    async def load(self, session: AsyncSession, version: ModelVersion) -> TrainedModel:
        """The scoring model of a version (cached by id: versions never change)."""
        from zhanli_shared.ml.training import TrainedModel

        cached = self._cache.get(version.id)
        if cached is not None:
            return cached
        text = (
            await session.execute(select(self.table.c.model).where(self.table.c.id == version.id))
        ).scalar_one()
        model = TrainedModel.from_json(json.loads(text))
        if len(self._cache) > 16:
            self._cache.clear()
        self._cache[version.id] = model
        return model

    async def load_active(
        self, session: AsyncSession, name: str
    ) -> tuple[ModelVersion, TrainedModel] | None:
        version = await self.active(session, name)
        if version is None:
            return None
        return version, await self.load(session, version)

    async def activate(
        self, session: AsyncSession, name: str, version: int, *, by: str | None = None
    ) -> ModelVersion:
        """Make ``version`` the active one; the previous active version is retired and
        remembered (``replaced_id``) for ``rollback``."""
        t = self.table
        target = await self.get(session, name, version)
        if target.status == "active":
            return target
        if target.status == "rejected":
            raise Conflict(
                f"version {version} of {name!r} was rejected (it did not pass the activation "
                "policy)",
                field="version",
            )
        current = await self.active(session, name, for_update=True)
        if current is not None:
            await session.execute(update(t).where(t.c.id == current.id).values(status="retired"))
        await session.execute(
            update(t)
            .where(t.c.id == target.id)
            .values(
                status="active",
                activated_at=utcnow(),
                activated_by=by,
                replaced_id=current.id if current is not None else None,
            )
        )
        await session.flush()
        return await self.get(session, name, version)

    async def rollback(
        self, session: AsyncSession, name: str, *, by: str | None = None
    ) -> ModelVersion | None:
        """Deactivate the active version (status ``rolled_back``) and reactivate the one it
        replaced; returns the now active version, or None (nothing before it: the service
        falls back to its rules)."""
        t = self.table
        current = await self.active(session, name, for_update=True)
        if current is None:
            raise Conflict(f"model {name!r} has no active version to roll back", field="name")
        await session.execute(update(t).where(t.c.id == current.id).values(status="rolled_back"))
        if current.replaced_id is None:
            await session.flush()
            return None
        await session.execute(
            update(t)
            .where(t.c.id == current.replaced_id)
            .values(status="active", activated_at=utcnow(), activated_by=by)
        )
        await session.flush()
        return await self.by_id(session, current.replaced_id)

    async def reject(self, session: AsyncSession, name: str, version: int, *, note: str) -> None:
        t = self.table
        target = await self.get(session, name, version)
        if target.status == "active":
            raise Conflict(
                "the active version cannot be rejected: roll back first", field="version"
            )
        await session.execute(
            update(t).where(t.c.id == target.id).values(status="rejected", note=note)
        )


def _json_safe(value: Any) -> Any:
    """NaN/inf -> None, numpy scalars and arrays -> Python, dates -> ISO text (JSON columns
    refuse the rest)."""
    import math

    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return _json_safe(value.tolist())
    if hasattr(value, "item"):
        return _json_safe(value.item())
    return str(value)
