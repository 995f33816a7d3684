"""One settings object per service, read from the environment.

Each service has its own prefix (``ZHANLI_COMMISSION_``); a value not set under the
service prefix falls back to the platform-wide prefix ``ZHANLI_`` so one variable can
configure every process (e.g. ``ZHANLI_KAFKA_BOOTSTRAP_SERVERS``). The defaults make the
embedded mode (SQLite under ``var/``, Tansu on localhost) work with no configuration.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

PLATFORM_PREFIX = "ZHANLI_"


def home_dir() -> Path:
    """The installation's home: ``ZHANLI_HOME`` or the current directory."""
    return Path(os.environ.get("ZHANLI_HOME", ".")).resolve()


def var_dir() -> Path:
    """Where the embedded mode keeps its files (SQLite databases, keys, logs)."""
    return Path(os.environ.get("ZHANLI_VAR_DIR", str(home_dir() / "var"))).resolve()


class TrustedIssuer(BaseModel):
    """One more issuer whose tokens are accepted (besides ``auth_issuer``): e.g. the
    gateway's own issuer of machine tokens (API keys, client credentials) next to the IdP.
    Its keys: a PEM public key (or file), a JWKS URL, or OIDC discovery from ``issuer``."""

    model_config = ConfigDict(extra="forbid")

    issuer: str
    public_key: str | None = None
    public_key_file: str | None = None
    jwks_url: str | None = None
    discovery: bool = False

    def public_key_pem(self) -> str | None:
        if self.public_key:
            return self.public_key
        if self.public_key_file:
            return Path(self.public_key_file).read_text()
        return None


class ServiceSettings(BaseSettings):
    """Settings every service has. Subclass it and set ``service_name`` and the prefix."""

    service_name: ClassVar[str] = "service"
    default_port: ClassVar[int] = 8000

    model_config = SettingsConfigDict(extra="ignore", env_nested_delimiter="__")

    host: str = "127.0.0.1"
    port: int = 0
    environment: str = "embedded"
    metrics_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Port of the Prometheus /metrics listener, apart from the API port (which "
        "answers 404 for /metrics): unset = no metrics listener, 0 = any free port",
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Interface of the metrics listener: loopback by default; the chart binds "
        "0.0.0.0 and lets only Prometheus reach the port (NetworkPolicy)",
    )

    database_url: str = ""
    database_schema: str | None = Field(
        default=None, description="PostgreSQL schema for this service's tables"
    )
    database_pool_size: int = 10
    database_echo: bool = False
    shutdown_step_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="longest wait for each part of a stop (a consumer, the relay, the engine) "
        "before it is abandoned: a stop never hangs; offsets are committed only after the "
        "database, so an abandoned consumer's events come again and the inbox skips them",
    )

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_enable_idempotence: bool = False
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_topic_partitions: int = 3
    kafka_replication_factor: int = 1
    kafka_client_id: str | None = None

    relay_enabled: bool = True
    relay_batch_size: int = 500
    relay_poll_interval_s: float = 0.5
    relay_max_backoff_s: float = 10.0
    relay_max_attempts: int = Field(
        default=5,
        ge=1,
        description="Refusals of one outbox row by a working broker (too large, unknown "
        "topic) before the row is parked for an operator",
    )
    relay_retry_backoff_s: float = Field(
        default=0.5, description="Wait after a drain in which the broker refused rows; doubles"
    )
    relay_epoch_check_interval_s: float = Field(
        default=1.0,
        description="How often the relay asks the broker which incarnation it is (a broker "
        "that forgot its log gets again what it had acknowledged)",
    )
    relay_new_broker_grace_s: float = Field(
        default=120.0,
        description="After the relay finds a new broker, a topic that broker does not have "
        "yet (the supervisor or an operator is still creating the topics) holds its rows "
        "without costing them attempts for this long",
    )
    outbox_sent_retention_s: float = Field(
        default=3 * 86400,
        description="Sent outbox rows are kept this long (re-sent to a broker that forgot "
        "them), then purged",
    )
    inbox_retention_s: float = Field(
        default=14 * 86400,
        description="Inbox rows (event ids already applied) are kept this long; must exceed "
        "both the outbox retention and the topics' retention, the windows in which an event "
        "can come again",
    )
    event_purge_interval_s: float = 600.0

    consumer_enabled: bool = True
    consumer_group_id: str | None = Field(
        default=None, description="Kafka consumer group; default zhanli-<service>"
    )
    consumer_max_attempts: int = 3
    consumer_retry_backoff_s: float = 0.2
    consumer_batch_size: int = 500
    consumer_fetch_max_wait_ms: int = Field(
        default=50,
        ge=1,
        description="How long a fetch waits on the broker for new records; the floor of "
        "the delivery latency on brokers that answer a waiting fetch only when it expires.",
    )
    consumer_session_timeout_ms: int = 10_000
    consumer_heartbeat_interval_ms: int = 3_000

    auth_issuer: str = "zhanli-local"
    auth_audience: str = "zhanli"
    auth_algorithms: list[str] = ["RS256"]
    auth_public_key: str | None = None
    auth_public_key_file: str | None = None
    auth_jwks_url: str | None = None
    auth_discovery: bool = Field(
        default=False,
        description="auth_issuer is an OIDC issuer URL: read jwks_uri from its "
        "/.well-known/openid-configuration (once, at start)",
    )
    auth_extra_issuers: list[TrustedIssuer] = Field(
        default_factory=list,
        description="more trusted issuers, JSON: "
        '[{"issuer": "zhanli-gateway", "jwks_url": "http://gateway:8000/.well-known/jwks.json"}]',
    )
    auth_leeway_s: int = 30
    auth_jwks_cache_s: float = Field(
        default=300,
        gt=0,
        description="How long a fetched JWKS is trusted before it is read again. A signing-key "
        "rotation publishes the new key, waits this long (every verifier then knows it), and "
        "only then signs with it: PyJWT refetches for an unknown kid at most every 30 s",
    )
    auth_status_refresh_s: float = Field(
        default=1.0,
        gt=0,
        description="How often a service re-reads who has left from its directory projection: "
        "a departed person's unexpired tokens are refused within this long of the change "
        "reaching the service",
    )

    data_keys: SecretStr | None = Field(
        default=None,
        description="Envelope-encryption key ring: 'kid:base64key,...', the first encrypts",
    )
    data_keys_file: str | None = None

    timezone: str = "Asia/Shanghai"
    currency: str = "CNY"
    log_level: str = "INFO"
    log_json: bool = True

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        platform = EnvSettingsSource(
            settings_cls, env_prefix=PLATFORM_PREFIX, env_nested_delimiter="__"
        )
        return init_settings, env_settings, platform, dotenv_settings, file_secret_settings

    def model_post_init(self, __context: Any) -> None:
        if not self.port:
            self.port = self.default_port
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{var_dir() / (self.service_name + '.db')}"
        if self.database_schema is None and self.database_url.startswith("postgresql"):
            self.database_schema = self.service_name
        if self.kafka_client_id is None:
            self.kafka_client_id = f"zhanli-{self.service_name}"

    @property
    def consumer_group(self) -> str:
        return self.consumer_group_id or f"zhanli-{self.service_name}"

    def auth_configured(self) -> bool:
        """True when tokens can be verified (a key, a JWKS URL or discovery is set)."""
        return bool(self.public_key_pem() or self.auth_jwks_url or self.auth_discovery)

    def public_key_pem(self) -> str | None:
        if self.auth_public_key:
            return self.auth_public_key
        if self.auth_public_key_file:
            return Path(self.auth_public_key_file).read_text()
        return None
