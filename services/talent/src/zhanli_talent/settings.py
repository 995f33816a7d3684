"""The talent service's settings (env prefix ZHANLI_TALENT_, falling back to ZHANLI_)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from zhanli_shared.settings import ServiceSettings

if TYPE_CHECKING:
    from zhanli_shared.runtime import Runtime


class TalentSettings(ServiceSettings):
    service_name: ClassVar[str] = "talent"
    default_port: ClassVar[int] = 8001
    model_config = SettingsConfigDict(
        env_prefix="ZHANLI_TALENT_", extra="ignore", env_nested_delimiter="__"
    )

    resume_max_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1024, description="Largest resume file accepted (bytes)"
    )
    contact_index_key: SecretStr | None = Field(
        default=None,
        description="Key of the blind index that finds duplicate phones and emails without "
        "decrypting them (base64 or text). Default: derived from the oldest data key; set it "
        "in production so that dropping that key does not orphan the index.",
    )
    offer_confirm_days: float = Field(default=3.0, gt=0, description="Offer reminder after")
    feedback_due_hours: float = Field(
        default=24.0, gt=0, description="Interview feedback overdue after (hours)"
    )
    idle_stage_days: float = Field(
        default=7.0, gt=0, description="A candidate with no next step for this long: reminder"
    )
    reminder_interval_s: float = Field(default=300.0, ge=0, description="0: no reminder loop")
    rescore_batch_size: int = Field(default=500, ge=1)


def talent_settings(runtime: Runtime) -> TalentSettings:
    """The running service's settings, typed as the talent service's own."""
    settings = runtime.settings
    if not isinstance(settings, TalentSettings):
        raise TypeError(f"not the talent service's settings: {type(settings).__name__}")
    return settings
