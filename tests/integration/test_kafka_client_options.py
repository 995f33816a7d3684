"""aiokafka's defaults are not ours: the options the platform passes must stay explicit."""

from __future__ import annotations

from typing import Any

import pytest
from zl_evkit import settings_for

from zhanli_shared.events import kafka


@pytest.fixture
def settings():  # type: ignore[no-untyped-def]
    return settings_for("127.0.0.1:1")


def test_producer_waits_for_all_replicas(settings) -> None:  # type: ignore[no-untyped-def]
    opts = kafka.producer_options(settings)
    assert opts["acks"] == "all"  # aiokafka's default is 1
    assert opts["bootstrap_servers"] == "127.0.0.1:1"


def test_consumer_commits_manually_and_starts_from_the_earliest(settings) -> None:  # type: ignore[no-untyped-def]
    opts = kafka.consumer_options(settings, "zt-group")
    assert opts["enable_auto_commit"] is False  # aiokafka's default is True (at-most-once)
    assert opts["auto_offset_reset"] == "earliest"  # aiokafka's default is 'latest'
    assert opts["group_id"] == "zt-group"


@pytest.mark.parametrize("enabled", [False, True])
def test_idempotence_follows_the_setting(enabled: bool) -> None:
    settings = settings_for("127.0.0.1:1", kafka_enable_idempotence=enabled)
    assert kafka.producer_options(settings)["enable_idempotence"] is enabled
    assert kafka.consumer_options(settings, "g")["isolation_level"] == (
        "read_committed" if enabled else "read_uncommitted"
    )


def test_idempotence_is_off_by_default_for_the_embedded_broker(settings) -> None:  # type: ignore[no-untyped-def]
    assert settings.kafka_enable_idempotence is False  # Tansu refuses InitProducerId
    assert kafka.producer_options(settings)["enable_idempotence"] is False


def test_the_client_factories_pass_the_options_through(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seen: dict[str, Any] = {}

    class Spy:
        def __init__(self, *topics: str, **kwargs: Any) -> None:
            seen.setdefault("calls", []).append((topics, kwargs))

    monkeypatch.setattr(kafka, "AIOKafkaProducer", Spy)
    monkeypatch.setattr(kafka, "AIOKafkaConsumer", Spy)
    kafka.make_producer(settings)
    kafka.make_consumer(settings, ["zhanli.test.a.v1"], "zt-g")
    (p_topics, p_kwargs), (c_topics, c_kwargs) = seen["calls"]
    assert p_topics == () and p_kwargs["acks"] == "all"
    assert p_kwargs["enable_idempotence"] is False
    assert c_topics == ("zhanli.test.a.v1",)
    assert c_kwargs["enable_auto_commit"] is False
    assert c_kwargs["auto_offset_reset"] == "earliest"
    assert c_kwargs["group_id"] == "zt-g"


def test_dead_letter_topic_is_per_group() -> None:
    assert kafka.dead_letter_topic("zhanli-kpi") == "zhanli.dlq.zhanli-kpi"
