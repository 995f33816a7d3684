"""Use cases of the model: configuration, training runs with progress, the registry
(activate, roll back), the fallback to the rules and why."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
import zoneinfo
from decimal import Decimal
from typing import Any

import numpy as np
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_retention.core.advice import BandSettings
from zhanli_retention.core.hazard import HazardSettings
from zhanli_retention.core.rules import RuleSettings
from zhanli_retention.db import model_registry
from zhanli_retention.features import repository as features
from zhanli_retention.features.models import RetentionPerson
from zhanli_retention.modeling import pipeline
from zhanli_retention.modeling.models import RetentionConfig, TrainingRun
from zhanli_retention.modeling.schemas import Config
from zhanli_retention.settings import RetentionSettings
from zhanli_shared import audit
from zhanli_shared.auth import Principal
from zhanli_shared.db import utcnow
from zhanli_shared.errors import Conflict, NotFound, ProblemError
from zhanli_shared.events.outbox import Publisher
from zhanli_shared.ml.card import model_card
from zhanli_shared.ml.fairness import fairness_report
from zhanli_shared.ml.registry import ModelVersion, activation_decision
from zhanli_shared.ml.training import TrainedModel

log = structlog.get_logger("zhanli.retention.modeling")

MODEL_NAME = pipeline.MODEL_NAME
INTENDED_USE = (
    "Early warning of new salespeople at risk of leaving, so that HR and the manager can "
    "talk with them and offer coaching, a different mentor or an adjusted target. A "
    "recommendation to people, explained to the person concerned; never the sole basis of "
    "a decision about anyone (PIPL Art. 24)."
)
LIMITS = (
    "Trained on the company's own separations: it learns who left before, including any "
    "bias in how people were managed; review the fairness report of every version.",
    "The weekly hazard is validated on later hire cohorts; the 30/60/90-day risks project "
    "it forward with the person's other signals held at today's values.",
    "Leaving has causes no signal shows (offers, family, health): a high score is a reason "
    "to talk, not a forecast about a person.",
)

# Progress of runs in this process (the worker thread writes, the status route reads).
PROGRESS: dict[str, tuple[float, str]] = {}
_TASKS: set[asyncio.Task[Any]] = set()
_MODELS: dict[str, TrainedModel] = {}


def today(settings: RetentionSettings) -> dt.date:
    return dt.datetime.now(zoneinfo.ZoneInfo(settings.timezone)).date()


def hazard_settings(settings: RetentionSettings) -> HazardSettings:
    return HazardSettings(
        horizon_weeks=settings.horizon_weeks,
        max_weeks=settings.max_weeks,
        probation_days=settings.probation_days,
    )


def minimums(settings: RetentionSettings) -> pipeline.Minimums:
    return pipeline.Minimums(
        people=settings.min_people_to_train,
        exits=settings.min_exits_to_train,
        cohorts=settings.min_cohorts_to_train,
    )


async def get_config(session: AsyncSession) -> Config:
    row = await session.get(RetentionConfig, "config")
    return Config.model_validate(row.value) if row else Config()


def rule_settings(config: Config) -> RuleSettings:
    r = config.rules
    return RuleSettings(
        training_completion_below=r.training_completion_below,
        mentor_rating_below=r.mentor_rating_below,
        zero_growth_weeks=r.zero_growth_weeks,
        high_flags=r.high_flags,
        enabled=frozenset(r.enabled),
    )


def band_settings(config: Config) -> BandSettings:
    return BandSettings(medium_from=config.bands.medium_from, high_from=config.bands.high_from)


async def set_config(
    session: AsyncSession,
    publisher: Publisher,
    config: Config,
    *,
    actor: Principal,
    source_ip: str | None = None,
) -> Config:
    row = await session.get(RetentionConfig, "config")
    before = row.value if row else Config().model_dump()
    if row is None:
        row = RetentionConfig(key="config", value={}, updated_at=utcnow())
        session.add(row)
    row.value = config.model_dump()
    row.updated_by = actor.subject
    row.updated_at = utcnow()
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="retention.config.updated",
        entity_type="retention_config",
        entity_id="config",
        before=_exact(before),
        after=_exact(row.value),
        source_ip=source_ip,
    )
    return config


def _exact(value: Any) -> Any:
    """The configuration as the audit log records numbers: thresholds are floats in the
    API, decimals (their shortest repr) in the log, which refuses floats."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: _exact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_exact(v) for v in value]
    return value


async def load_model(session: AsyncSession) -> tuple[ModelVersion, TrainedModel] | None:
    version = await model_registry.active(session, MODEL_NAME)
    if version is None:
        return None
    cached = _MODELS.get(version.id)
    if cached is None:
        cached = await model_registry.load(session, version)
        _MODELS.clear()
        _MODELS[version.id] = cached
    return version, cached


async def fallback_reason(session: AsyncSession) -> str:
    last = (
        await session.execute(
            select(TrainingRun)
            .where(TrainingRun.model_name == MODEL_NAME, TrainingRun.status != "running")
            .order_by(TrainingRun.started_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if last is None:
        return "No model has been trained yet: scores come from the early-warning rules."
    if last.status == "insufficient":
        return (
            f"Too little history to train a model ({last.result.get('reason')}): "
            "scores come from the early-warning rules."
        )
    if last.status == "failed":
        return f"The last training failed ({last.error}): scores come from the early-warning rules."
    if not last.activated:
        why = "; ".join(last.result.get("decision", {}).get("reasons", [])) or "not activated"
        return (
            f"The last model was not activated ({why}): scores come from the early-warning rules."
        )
    return "No active model (rolled back): scores come from the early-warning rules."


async def history(session: AsyncSession) -> tuple[list[RetentionPerson], list[Any]]:
    rows = [r for r in await features.people(session) if r.hired_on is not None]
    return rows, await features.facts(session, rows)


async def start_training(
    runtime: Any,
    settings: RetentionSettings,
    *,
    trigger: str,
    by: str | None,
    wait: bool = False,
) -> TrainingRun:
    async with runtime.sessions() as session:
        running = (
            await session.execute(
                select(TrainingRun).where(
                    TrainingRun.status == "running", TrainingRun.model_name == MODEL_NAME
                )
            )
        ).scalar_one_or_none()
        if running is not None and running.id in PROGRESS:
            raise Conflict(f"training run {running.id} is still running", field="run")
        run = TrainingRun(
            id=str(uuid.uuid4()),
            trigger=trigger,
            status="running",
            progress=0.0,
            stage="queued",
            requested_by=by,
            started_at=utcnow(),
            model_name=MODEL_NAME,
            activated=False,
            result={},
        )
        session.add(run)
        await session.commit()
        run_id = run.id
    PROGRESS[run_id] = (0.0, "queued")
    task = asyncio.create_task(run_training(runtime, settings, run_id))
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
    if wait:
        await task
    async with runtime.sessions() as session:
        found = await session.get(TrainingRun, run_id)
        assert found is not None
        return found


def _fairness(
    prep: pipeline.Prepared, oof: np.ndarray, protected: dict[str, dict[str, Any]]
) -> dict[str, Any] | None:
    """High-risk flags (a validated person's mean weekly hazard in the top fifth) by gender
    and age band, four-fifths rule; None without protected attributes."""
    ds = prep.hazard
    sums: dict[str, list[float]] = {}
    for i, p in enumerate(ds.person):
        if not np.isnan(oof[i]):
            sums.setdefault(p, []).append(float(oof[i]))
    ids = sorted(sums)
    if not ids or not any(protected.get(p) for p in ids):
        return None
    means = np.array([sum(sums[p]) / len(sums[p]) for p in ids])
    cut = float(np.quantile(means, 0.8))
    flags = [bool(m >= cut) for m in means]
    return fairness_report(
        flags,
        {
            "gender": [protected.get(p, {}).get("gender") for p in ids],
            "age_band": [protected.get(p, {}).get("age_band") for p in ids],
        },
        kind="flag",
    )


async def run_training(runtime: Any, settings: RetentionSettings, run_id: str) -> None:
    def progress(fraction: float, message: str) -> None:
        PROGRESS[run_id] = (0.1 + 0.85 * fraction, message)

    status, error, result = "failed", None, {}
    version: ModelVersion | None = None
    activated = False
    try:
        async with runtime.sessions() as session:
            config = await get_config(session)
            rows, facts = await history(session)
            protected = {r.employee_id: dict(r.protected or {}) for r in rows}
        PROGRESS[run_id] = (0.02, f"building person-weeks of {len(facts)} people")
        prep = await asyncio.to_thread(
            pipeline.prepare,
            facts,
            today(settings),
            hazard=hazard_settings(settings),
            rules=rule_settings(config),
            minimums=minimums(settings),
        )
        PROGRESS[run_id] = (0.1, f"training on {len(prep.hazard):,} person-weeks")
        fitted = await asyncio.to_thread(pipeline.fit, prep, progress=progress)
        decision = activation_decision(fitted.metrics, candidate=fitted.candidate)
        fairness = _fairness(prep, fitted.result.oof, protected)
        async with runtime.sessions() as session:
            card = model_card(
                name=MODEL_NAME,
                version=None,
                result=fitted.result,
                intended_use=INTENDED_USE,
                data={
                    "people": prep.people,
                    "exits": prep.exits,
                    "person_weeks": len(prep.hazard),
                    "cohorts": [prep.cohorts[0], prep.cohorts[-1]],
                    "label": fitted.metrics["label"],
                },
                fairness=fairness,
                decision=decision,
                limits=LIMITS,
            )
            card["candidate"] = fitted.candidate
            card["concordance"] = fitted.metrics["concordance"]
            version = await model_registry.add(
                session,
                MODEL_NAME,
                fitted.chosen,
                metrics=fitted.metrics,
                card=card,
                training=fitted.summary,
                note="; ".join(decision.reasons),
                created_by=None,
                status="candidate" if decision.activate else "rejected",
            )
            if decision.activate:
                await model_registry.activate(session, MODEL_NAME, version.version, by="training")
                activated = True
                await audit.record(
                    session,
                    runtime.publisher,
                    actor="zhanli-retention",
                    action="retention.model.activated",
                    entity_type="model_version",
                    entity_id=f"{MODEL_NAME}:{version.version}",
                    before=None,
                    after={"version": version.version, "reasons": decision.reasons},
                )
            await session.commit()
        status = "done"
        result = {
            "decision": decision.to_dict(),
            "candidate": fitted.candidate,
            "metrics": {
                k: _headline(fitted.metrics.get(k)) for k in ("model", "baseline", "rules")
            },
            "concordance": fitted.metrics["concordance"],
            "summary": fitted.summary,
        }
    except pipeline.NotEnoughHistory as exc:
        status, result = "insufficient", {"reason": exc.reason, "facts": exc.facts}
    except ProblemError as exc:
        status, error = "failed", exc.detail if hasattr(exc, "detail") else str(exc)
    except Exception as exc:  # a run must end with a status, whatever happened
        log.exception("retention.training_failed", run_id=run_id)
        status, error = "failed", f"{type(exc).__name__}: {exc}"
    async with runtime.sessions() as session:
        run = await session.get(TrainingRun, run_id)
        if run is not None:
            run.status = status
            run.progress = 1.0
            run.stage = {"done": "done", "insufficient": "too little history"}.get(status, "failed")
            run.finished_at = utcnow()
            run.result = result
            run.error = error
            run.model_version = version.version if version else None
            run.activated = activated
            await session.commit()
    PROGRESS.pop(run_id, None)
    if status == "done":
        from zhanli_retention.scoring import service as scoring

        try:
            await scoring.refresh_all(runtime, settings)
        except Exception:
            log.exception("retention.rescore_after_training_failed")


def _headline(m: dict[str, Any] | None) -> dict[str, Any] | None:
    if not m:
        return None
    return {k: m.get(k) for k in ("n", "positives", "roc_auc", "pr_auc", "brier", "ece", "top_k")}


async def get_run(session: AsyncSession, run_id: str) -> TrainingRun:
    run = await session.get(TrainingRun, run_id)
    if run is None:
        raise NotFound(f"no training run {run_id}", field="run_id")
    if run.id in PROGRESS:
        run.progress, run.stage = PROGRESS[run.id]
    return run


async def activate(
    session: AsyncSession,
    publisher: Publisher,
    version: int,
    *,
    actor: Principal,
    source_ip: str | None,
) -> ModelVersion:
    before = await model_registry.active(session, MODEL_NAME)
    found = await model_registry.activate(session, MODEL_NAME, version, by=actor.subject)
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="retention.model.activated",
        entity_type="model_version",
        entity_id=f"{MODEL_NAME}:{version}",
        before={"active_version": before.version if before else None},
        after={"active_version": version},
        source_ip=source_ip,
    )
    return found


async def rollback(
    session: AsyncSession, publisher: Publisher, *, actor: Principal, source_ip: str | None
) -> ModelVersion | None:
    before = await model_registry.active(session, MODEL_NAME)
    now = await model_registry.rollback(session, MODEL_NAME, by=actor.subject)
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="retention.model.rolled_back",
        entity_type="model_version",
        entity_id=MODEL_NAME,
        before={"active_version": before.version if before else None},
        after={"active_version": now.version if now else None},
        source_ip=source_ip,
    )
    return now
