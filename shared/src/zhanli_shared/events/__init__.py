"""Events: CloudEvents envelope, versioned contracts, outbox, relay, inbox consumer."""

from zhanli_shared.events.contracts.base import EventContract, all_contracts, contract_for_topic
from zhanli_shared.events.envelope import CloudEvent

__all__ = ["CloudEvent", "EventContract", "all_contracts", "contract_for_topic"]
