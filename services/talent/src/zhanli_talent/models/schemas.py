"""The learned component's API: bootstrap from history (past candidates and outcomes)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from zhanli_shared.ml.tabular import ColumnMapping

TraitName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_.\-]+$")]


class HistoryImport(BaseModel):
    """Past candidates with their outcome (a CSV in UTF-8 or GBK, or an XLSX, base64 in
    ``content_base64``) and which columns mean what. ``feature_traits`` ties each feature
    column to what the service knows of a live candidate (an assessment kind,
    ``interview.<criterion>``, or ``source``): the model scores live candidates on
    those; a feature tied to nothing is missing for them. Protected columns (gender, age)
    go in ``mapping.protected``: used for the fairness report, never as features."""

    model_config = ConfigDict(extra="forbid")

    filename: str = Field(min_length=1, max_length=255, examples=["past_candidates.xlsx"])
    content_base64: str = Field(min_length=4, max_length=14_000_000)
    mapping: ColumnMapping
    feature_traits: dict[Annotated[str, Field(min_length=1, max_length=200)], TraitName] = Field(
        default_factory=dict, max_length=500
    )
    monotone: dict[Annotated[str, Field(min_length=1, max_length=200)], Literal[-1, 0, 1]] = Field(
        default_factory=dict,
        max_length=500,
        description="Per feature: +1 the chance may only rise with it, -1 only fall. "
        "Default: +1 for every numeric feature tied to an assessment or interview trait.",
    )
    learned_weight: float = Field(
        default=0.3, ge=0.05, le=0.9, description="Share of the blended score, when activated"
    )
    validation: Literal["stratified", "later"] = Field(
        default="stratified",
        description="'later': validate on later rows (mapping.time), as on future hiring",
    )


class ModelVersionRead(BaseModel):
    id: str
    name: str
    version: int
    status: str
    kind: str
    metrics: dict[str, Any]
    note: str | None = None
    created_by: str | None = None
    created_at: str
    activated_at: str | None = None
    activated_by: str | None = None
    replaced_id: str | None = None


class ImportOutcome(BaseModel):
    model: ModelVersionRead
    activated: bool
    decision: dict[str, Any]
    import_report: dict[str, Any] | None
    fairness: dict[str, Any] | None
    card: dict[str, Any]
    profile_version: int | None = Field(
        description="The profile version that blends the model in (when activated)"
    )
    rescore_job_id: str | None = None
