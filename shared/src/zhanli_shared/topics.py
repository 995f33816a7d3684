"""Create every topic the platform uses: one per event contract, one dead-letter topic per
consumer group. ``make run`` calls it on start (Tansu keeps topics in memory only); in
Kubernetes a hook Job does, unless topics are managed by the cluster (e.g. Strimzi)."""

from __future__ import annotations

import argparse
import asyncio

from zhanli_shared.events.contracts import all_contracts
from zhanli_shared.events.kafka import EPOCH_CONFIG, EPOCH_TOPIC, dead_letter_topic, ensure_topics
from zhanli_shared.settings import ServiceSettings

CONSUMER_GROUPS = [
    f"zhanli-{name}"
    for name in ("gateway", "people", "talent", "learning", "kpi", "commission", "retention")
]


def platform_topics() -> list[str]:
    return [*all_contracts(), *(dead_letter_topic(g) for g in CONSUMER_GROUPS)]


class TopicSettings(ServiceSettings):
    service_name = "topics"


async def create_all(settings: ServiceSettings | None = None) -> list[str]:
    settings = settings or TopicSettings()
    created = await ensure_topics(settings, platform_topics())
    # the broker's epoch marker (relays create it too): one partition, kept forever
    return created + await ensure_topics(settings, [EPOCH_TOPIC], partitions=1, config=EPOCH_CONFIG)


def main() -> None:
    parser = argparse.ArgumentParser(prog="zhanli-topics", description=__doc__)
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default from settings)")
    args = parser.parse_args()
    settings = TopicSettings()
    if args.bootstrap:
        settings.kafka_bootstrap_servers = args.bootstrap
    created = asyncio.run(create_all(settings))
    print(f"zhanli-topics: {len(platform_topics())} topics, {len(created)} created")


if __name__ == "__main__":
    main()
