"""Bootstrap from history: a past-employee export trains the first model through the
toolkit's path (mapping, per-row report, leakage and protected-attribute refusal,
cross-validation against logistic regression on the same folds, Platt calibration, the
registry's activation policy, a model card and a fairness report).

The imported model lives under its own name (``retention.history``): its features are the
export's columns, not the feature store's signals, so it scores files with the same columns
(``score_file``) while the event-fed hazard model accumulates history."""

from __future__ import annotations

import asyncio
import base64
import binascii
import uuid
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_retention.core.features import SIGNALS
from zhanli_retention.db import model_registry
from zhanli_retention.features import repository as features
from zhanli_retention.features.models import RetentionSignal
from zhanli_retention.history.models import HistoryImport
from zhanli_retention.history.schemas import HistoryImportCreate, TimelinesIn
from zhanli_retention.modeling.service import INTENDED_USE, LIMITS
from zhanli_retention.settings import RetentionSettings
from zhanli_shared import audit
from zhanli_shared.auth import Principal
from zhanli_shared.db import table_of, utcnow
from zhanli_shared.errors import NotFound, Unprocessable
from zhanli_shared.events.outbox import Publisher
from zhanli_shared.ml.card import model_card
from zhanli_shared.ml.fairness import age_band, fairness_report, gender_group
from zhanli_shared.ml.registry import activation_decision
from zhanli_shared.ml.tabular import Dataset, build_dataset, read_table
from zhanli_shared.ml.training import TrainConfig, TrainResult, train

MODEL_NAME = "retention.history"


def decode(body: HistoryImportCreate, settings: RetentionSettings) -> bytes:
    try:
        data = base64.b64decode(body.content_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Unprocessable("content_base64 is not valid base64", field="content_base64") from exc
    if len(data) > settings.import_max_bytes:
        raise Unprocessable(
            f"the file has {len(data):,} bytes; the limit is {settings.import_max_bytes:,}",
            field="content_base64",
        )
    return data


def _train(dataset: Dataset) -> TrainResult:
    """Later cohorts when the mapping gives a time (hire dates), else stratified folds;
    the toolkit's small-data profile below 20,000 rows; one thread, fixed seed."""
    if dataset.time is not None:
        return train(dataset, TrainConfig(validation="later", folds=5, num_threads=1))
    return train(dataset, TrainConfig(validation="stratified", folds=5, num_threads=1))


def _fairness(dataset: Dataset, oof: np.ndarray) -> dict[str, Any] | None:
    if not dataset.protected:
        return None
    valid = ~np.isnan(oof)
    if valid.sum() == 0:
        return None
    cut = float(np.quantile(oof[valid], 0.8))
    flags = [bool(v >= cut) for v in oof[valid]]
    groups: dict[str, list[str | None]] = {}
    for column, values in dataset.protected.items():
        kept = [v for v, ok in zip(values, valid, strict=True) if ok]
        low = column.lower()
        if "age" in low or "年龄" in column or "birth" in low or "出生" in column:
            groups[column] = [age_band(v) for v in kept]
        elif "gender" in low or "sex" in low or "性别" in column:
            groups[column] = [gender_group(v) for v in kept]
        else:
            groups[column] = [None if v is None else str(v) for v in kept]
    return fairness_report(flags, groups, kind="flag")


async def import_history(
    session: AsyncSession,
    publisher: Publisher,
    settings: RetentionSettings,
    body: HistoryImportCreate,
    *,
    actor: Principal,
    source_ip: str | None,
) -> HistoryImport:
    data = decode(body, settings)
    raw = read_table(
        data, filename=body.filename, sheet=body.sheet, max_bytes=settings.import_max_bytes
    )
    dataset = build_dataset(raw, body.mapping)
    result = await asyncio.to_thread(_train, dataset)
    candidate, chosen = result.champion()
    decision = activation_decision(result.metrics, candidate=candidate)
    fairness = _fairness(dataset, result.oof)
    report = dataset.report.to_dict() if dataset.report else {}
    card = model_card(
        name=MODEL_NAME,
        version=None,
        result=result,
        intended_use=INTENDED_USE + " Bootstrapped from an HRIS export of past employees.",
        data={
            "file": body.filename,
            **{
                k: report.get(k)
                for k in ("rows_read", "rows_accepted", "rows_rejected", "positives", "negatives")
            },
        },
        fairness=fairness,
        decision=decision,
        limits=(
            *LIMITS,
            "Its features are the export's columns: it scores files with the same columns, "
            "not the people fed by events.",
        ),
        created_by=actor.subject,
    )
    card["candidate"] = candidate
    version = await model_registry.add(
        session,
        MODEL_NAME,
        chosen,
        metrics=result.metrics,
        card=card,
        training={"import": body.filename, "validation": result.validation},
        note="; ".join(decision.reasons),
        created_by=actor.subject,
        status="candidate" if decision.activate else "rejected",
    )
    activated = False
    if decision.activate and body.activate:
        await model_registry.activate(session, MODEL_NAME, version.version, by=actor.subject)
        activated = True
    headline = {
        k: {
            m: (result.metrics.get(k) or {}).get(m)
            for m in ("n", "positives", "roc_auc", "pr_auc", "brier", "ece")
        }
        for k in ("model", "baseline")
    }
    row = HistoryImport(
        id=str(uuid.uuid4()),
        filename=body.filename,
        created_by=actor.subject,
        created_at=utcnow(),
        status="trained",
        mapping=body.mapping.model_dump(mode="json"),
        report={
            "import": report,
            "validation": result.validation,
            "metrics": headline,
            "candidate": candidate,
            "decision": decision.to_dict(),
            "leakage_warnings": result.leakage_warnings,
            "fairness_flagged": bool(fairness and fairness.get("flagged")),
        },
        model_name=MODEL_NAME,
        model_version=version.version,
        activated=activated,
    )
    session.add(row)
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="retention.history.imported",
        entity_type="retention_history_import",
        entity_id=row.id,
        before=None,
        after={
            "model_version": version.version,
            "activated": activated,
            "rows": report.get("rows_accepted"),
        },
        source_ip=source_ip,
    )
    await session.flush()
    return row


async def get(session: AsyncSession, import_id: str) -> HistoryImport:
    row = await session.get(HistoryImport, import_id)
    if row is None:
        raise NotFound(f"no history import {import_id}", field="import_id")
    return row


async def all_imports(session: AsyncSession) -> list[HistoryImport]:
    return list(
        (
            await session.execute(
                select(HistoryImport).order_by(HistoryImport.created_at.desc()).limit(100)
            )
        ).scalars()
    )


async def import_timelines(
    session: AsyncSession,
    publisher: Publisher,
    body: TimelinesIn,
    *,
    actor: Principal,
    source_ip: str | None,
) -> dict[str, Any]:
    """Upsert people and add their signals (source ``import``). A person whose dates are
    impossible, or a signal with an unknown name or dated before the hire, is rejected and
    listed, never half-written."""
    rejected: list[dict[str, Any]] = []
    seen: set[str] = set()
    rows: list[dict[str, Any]] = []
    people = 0
    now = utcnow()
    for i, p in enumerate(body.people):
        where = f"people[{i}]"
        if p.employee_id in seen:
            rejected.append(
                {
                    "at": where,
                    "employee_id": p.employee_id,
                    "reason": "duplicate employee_id in this request",
                }
            )
            continue
        seen.add(p.employee_id)
        if p.left_on is not None and p.left_on < p.hired_on:
            rejected.append(
                {
                    "at": where,
                    "employee_id": p.employee_id,
                    "reason": f"left_on {p.left_on} is before hired_on {p.hired_on}",
                }
            )
            continue
        bad = next(
            (
                (j, s)
                for j, s in enumerate(p.signals)
                if s.name not in SIGNALS or s.observed_on < p.hired_on
            ),
            None,
        )
        if bad is not None:
            j, s = bad
            why = (
                f"unknown signal {s.name!r}"
                if s.name not in SIGNALS
                else f"observed {s.observed_on} before the hire"
            )
            rejected.append(
                {"at": f"{where}.signals[{j}]", "employee_id": p.employee_id, "reason": why}
            )
            continue
        person = await features.ensure_person(session, p.employee_id)
        person.hired_on = p.hired_on
        person.left_on = p.left_on
        person.exit_reason = (p.exit_reason or "other") if p.left_on else None
        person.status = "left" if p.left_on else person.status
        person.mentor_id = p.mentor_id or person.mentor_id
        if p.org_path:
            person.org_path = list(p.org_path)
        protected = {k: v for k, v in (("gender", p.gender), ("age_band", p.age_band)) if v}
        if protected:
            person.protected = protected
        if person.source == "events":
            person.source = "import"
        person.updated_at = now
        people += 1
        rows.extend(
            {
                "id": uuid.uuid4().hex,
                "employee_id": p.employee_id,
                "name": s.name,
                "value": s.value,
                "observed_on": s.observed_on,
                "source": "import",
                "created_at": now,
            }
            for s in p.signals
        )
    table = table_of(RetentionSignal)
    for k in range(0, len(rows), 2000):
        await session.execute(table.insert(), rows[k : k + 2000])
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="retention.history.timelines_imported",
        entity_type="retention_history",
        entity_id="timelines",
        before=None,
        after={"people": people, "signals": len(rows), "rejected": len(rejected)},
        source_ip=source_ip,
    )
    await session.flush()
    return {"people": people, "signals": len(rows), "rejected": rejected}
