"""Scores: the list (HR: everyone; managers: their units), one person's score, the
explanation for the person concerned, a refresh on demand."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from zhanli_retention.scoring import service
from zhanli_retention.scoring.schemas import Explanation, RefreshResult, ScoreList, ScoreRead
from zhanli_retention.settings import retention_settings
from zhanli_shared.auth import CurrentPrincipal, Principal, require_roles
from zhanli_shared.runtime import PublisherDep, RuntimeDep, SessionDep

router = APIRouter(prefix="/api/v1/retention", tags=["retention scores"])
HrOnly = Annotated[Principal, Depends(require_roles("hr_admin", "hr_bp"))]

PURPOSE_EN = (
    "This estimate helps HR and your manager notice early when a new colleague may need more "
    "support (coaching, a different mentor, an adjusted target). It is computed from work "
    "signals only (training, mentor feedback, sales progress, commission, tenure), never "
    "from gender, age or other personal attributes."
)
PURPOSE_ZH = (
    "该评估帮助 HR 和您的经理及早发现新同事可能需要的支持(辅导、更换导师、调整目标)。"
    "它只依据工作信号(培训、导师反馈、业绩进展、佣金、司龄)计算,从不使用性别、年龄等个人属性。"
)
RIGHTS_EN = (
    "It is never the sole basis of a decision about you. You may ask HR for an explanation, "
    "to correct the data it uses, or to refuse a decision made only by automated means "
    "(PIPL Art. 24)."
)
RIGHTS_ZH = (
    "该评估绝不作为对您做出决定的唯一依据。您可以要求 HR 解释、更正所用数据,"
    "或拒绝仅由自动化方式作出的决定(《个人信息保护法》第二十四条)。"
)


@router.get("/scores", response_model=ScoreList)
async def list_scores(
    principal: CurrentPrincipal,
    session: SessionDep,
    band: Annotated[Literal["low", "medium", "high"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> ScoreList:
    """Highest risk first. HR sees everyone, a manager the people of their units."""
    rows = await service.visible_scores(session, principal, band, limit, offset)
    return ScoreList(items=[ScoreRead.model_validate(r) for r in rows])


@router.get("/people/{employee_id}/score", response_model=ScoreRead)
async def read_score(
    employee_id: str, principal: CurrentPrincipal, session: SessionDep
) -> ScoreRead:
    row, _ = await service.score_of(session, principal, employee_id)
    return ScoreRead.model_validate(row)


@router.get("/people/{employee_id}/explanation", response_model=Explanation)
async def explain(
    employee_id: str, principal: CurrentPrincipal, session: SessionDep
) -> Explanation:
    """The explanation the person concerned (and HR, their managers) can read."""
    row, _ = await service.score_of(session, principal, employee_id, explanation=True)
    return Explanation(
        employee_id=row.employee_id,
        basis=row.basis,
        risk_90=row.risk_90,
        band=row.band,
        factors=row.factors,
        rules_fired=row.rules_fired,
        features=row.features,
        suggested_support=row.interventions,
        purpose_en=PURPOSE_EN,
        purpose_zh=PURPOSE_ZH,
        rights_en=RIGHTS_EN,
        rights_zh=RIGHTS_ZH,
    )


@router.post("/scores/refresh", response_model=RefreshResult)
async def refresh(
    principal: HrOnly, session: SessionDep, publisher: PublisherDep, runtime: RuntimeDep
) -> RefreshResult:
    """Rescore every active person now (alerts for those entering the high band)."""
    out = await service.refresh(session, publisher, retention_settings(runtime))
    return RefreshResult(
        scored=out["scored"], alerts=out["alerts"], basis="model" if out["basis_model"] else "rules"
    )
