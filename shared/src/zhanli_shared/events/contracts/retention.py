"""Retention facts: a person entered the high-risk band (HR and the manager act on it; the
gateway's webhooks carry it to WeCom or DingTalk)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from zhanli_shared.events.contracts.base import DecimalStr, EventContract


class RiskFactor(BaseModel):
    """One factor raising the risk, with the interventions suggested for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feature: str
    label_en: str
    label_zh: str
    value: DecimalStr | None = Field(default=None, description="The signal's value")


class RiskAlertRaised(EventContract):
    event_type = "zhanli.retention.risk_alert_raised"
    version = 1
    key_field = "employee_id"
    description = (
        "A person entered the high-risk band of leaving (from the active model, or from the "
        "early-warning rules while there is too little history). A recommendation for HR "
        "and the manager to talk with the person, never the sole basis of a decision."
    )

    alert_id: str
    employee_id: str
    manager_id: str | None = None
    org_path: list[str] = Field(default_factory=list)
    band: str = Field(description="high")
    previous_band: str | None = None
    probability_90d: DecimalStr | None = Field(
        default=None, ge=0, le=1, description="Calibrated risk of leaving within 90 days"
    )
    basis: str = Field(description="model or rules")
    model_version: int | None = None
    factors: list[RiskFactor] = Field(default_factory=list)
    rules_fired: list[str] = Field(default_factory=list)
    suggested_interventions: list[str] = Field(default_factory=list)
    raised_at: dt.datetime
