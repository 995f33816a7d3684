"""The commission service's settings (env prefix ZHANLI_COMMISSION_, falling back to ZHANLI_)."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from zhanli_shared.runtime import Runtime
from zhanli_shared.settings import ServiceSettings


class CommissionSettings(ServiceSettings):
    service_name: ClassVar[str] = "commission"
    default_port: ClassVar[int] = 8004
    model_config = SettingsConfigDict(
        env_prefix="ZHANLI_COMMISSION_", extra="ignore", env_nested_delimiter="__"
    )

    flat_rate: Decimal = Field(
        default=Decimal("0.03"), ge=0, le=1, description="Flat commission rate on collected money"
    )
    rounding: str = Field(default="half_up", pattern="^(half_up|half_even)$")
    max_amount: Decimal = Field(
        default=Decimal("1000000000"), description="Largest single deal or payment accepted"
    )


def commission_settings(runtime: Runtime) -> CommissionSettings:
    """The running service's settings, typed as the commission service's own."""
    settings = runtime.settings
    if not isinstance(settings, CommissionSettings):
        raise TypeError(f"not the commission service's settings: {type(settings).__name__}")
    return settings
