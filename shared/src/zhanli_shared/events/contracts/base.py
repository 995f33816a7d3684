"""Base class and registry of event contracts."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, PlainSerializer

_REGISTRY: dict[str, type[EventContract]] = {}

# Money travels as a decimal string ("1234.50"), never as a JSON float.
DecimalStr = Annotated[
    Decimal, PlainSerializer(lambda v: str(v), return_type=str, when_used="json")
]
MoneyStr = DecimalStr


class EventContract(BaseModel):
    """A versioned event payload. Subclasses set ``event_type``, ``version`` and ``key_field``.

    The topic is ``<event_type>.v<version>``; ``key_field`` names the aggregate id used as
    the Kafka partition key, which keeps one aggregate's events in order.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: ClassVar[str] = ""
    version: ClassVar[int] = 1
    key_field: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.event_type:
            topic = cls.topic_name()
            if topic in _REGISTRY and _REGISTRY[topic] is not cls:
                raise RuntimeError(f"event contract {topic} defined twice")
            _REGISTRY[topic] = cls

    @classmethod
    def topic_name(cls) -> str:
        return f"{cls.event_type}.v{cls.version}"

    def partition_key(self) -> str:
        return str(getattr(self, self.key_field))


def contract_for_topic(topic: str) -> type[EventContract]:
    try:
        return _REGISTRY[topic]
    except KeyError:
        raise KeyError(f"no event contract for topic {topic!r}") from None


def all_contracts() -> dict[str, type[EventContract]]:
    return dict(sorted(_REGISTRY.items()))
