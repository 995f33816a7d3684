"""ServiceSettings precedence: init > service prefix > ZHANLI_ platform prefix > default."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from pydantic_settings import SettingsConfigDict

from zhanli_shared.settings import ServiceSettings


class ZtSettings(ServiceSettings):
    service_name: ClassVar[str] = "ztset"
    default_port: ClassVar[int] = 8999
    model_config = SettingsConfigDict(
        env_prefix="ZHANLI_ZTSET_", extra="ignore", env_nested_delimiter="__"
    )


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("ZHANLI_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ZHANLI_VAR_DIR", str(tmp_path / "var"))


def test_default_when_nothing_is_set(tmp_path: Path) -> None:
    s = ZtSettings()
    assert s.relay_batch_size == 500
    assert s.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert s.port == 8999
    assert s.kafka_client_id == "zhanli-ztset"
    assert s.consumer_group == "zhanli-ztset"
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path / 'var' / 'ztset.db'}"
    assert s.database_schema is None
    assert s.kafka_enable_idempotence is False


def test_platform_prefix_beats_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHANLI_RELAY_BATCH_SIZE", "7")
    monkeypatch.setenv("ZHANLI_KAFKA_BOOTSTRAP_SERVERS", "kafka-0:9092,kafka-1:9092")
    s = ZtSettings()
    assert s.relay_batch_size == 7
    assert s.kafka_bootstrap_servers == "kafka-0:9092,kafka-1:9092"


def test_service_prefix_beats_the_platform_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHANLI_RELAY_BATCH_SIZE", "7")
    monkeypatch.setenv("ZHANLI_ZTSET_RELAY_BATCH_SIZE", "9")
    monkeypatch.setenv("ZHANLI_LOG_LEVEL", "DEBUG")  # only the platform sets this one
    s = ZtSettings()
    assert s.relay_batch_size == 9
    assert s.log_level == "DEBUG"


def test_init_arguments_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHANLI_RELAY_BATCH_SIZE", "7")
    monkeypatch.setenv("ZHANLI_ZTSET_RELAY_BATCH_SIZE", "9")
    assert ZtSettings(relay_batch_size=11).relay_batch_size == 11


def test_another_services_prefix_does_not_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHANLI_KPI_RELAY_BATCH_SIZE", "3")
    monkeypatch.setenv("ZHANLI_KPI_PORT", "1234")
    s = ZtSettings()
    assert s.relay_batch_size == 500
    assert s.port == 8999


def test_typed_values_parse_from_either_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHANLI_KAFKA_ENABLE_IDEMPOTENCE", "true")
    monkeypatch.setenv("ZHANLI_ZTSET_AUTH_ALGORITHMS", '["RS256", "ES256"]')
    monkeypatch.setenv("ZHANLI_DATA_KEYS", "k1:c2VjcmV0")
    s = ZtSettings()
    assert s.kafka_enable_idempotence is True
    assert s.auth_algorithms == ["RS256", "ES256"]
    assert s.data_keys is not None and s.data_keys.get_secret_value() == "k1:c2VjcmV0"
    assert "c2VjcmV0" not in repr(s)


def test_postgres_url_gets_the_service_schema_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZHANLI_DATABASE_URL", "postgresql://db/zhanli")
    assert ZtSettings().database_schema == "ztset"
    monkeypatch.setenv("ZHANLI_ZTSET_DATABASE_SCHEMA", "custom")
    assert ZtSettings().database_schema == "custom"


def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    monkeypatch.setenv("ZHANLI_ZTSET_RELAY_BATCH_SIZE", "many")
    with pytest.raises(ValidationError):
        ZtSettings()


def test_trusted_issuers_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The IdP by discovery plus the gateway's issuer, as JSON in the platform-wide
    variables; nothing configured keeps the single-issuer default."""
    plain = ZtSettings()
    assert plain.auth_extra_issuers == [] and not plain.auth_discovery
    assert not plain.auth_configured()
    monkeypatch.setenv("ZHANLI_AUTH_ISSUER", "https://idp.example.com/realms/acme")
    monkeypatch.setenv("ZHANLI_AUTH_DISCOVERY", "true")
    monkeypatch.setenv(
        "ZHANLI_AUTH_EXTRA_ISSUERS",
        '[{"issuer": "zhanli-gateway", "jwks_url": "http://gateway:8000/.well-known/jwks.json"}]',
    )
    s = ZtSettings()
    assert s.auth_discovery and s.auth_configured()
    (extra,) = s.auth_extra_issuers
    assert extra.issuer == "zhanli-gateway" and extra.jwks_url.endswith("/jwks.json")
    assert extra.public_key_pem() is None
