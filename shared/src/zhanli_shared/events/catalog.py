"""The event catalogue: JSON Schemas of every contract (checked in, one file a topic) and
the AsyncAPI 3.0 document, both generated from the pydantic models.

``python -m zhanli_shared.events.catalog`` rewrites them; the contract tests fail when a
model's schema differs from its checked-in file, because a published contract may only
change by adding a new version.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from zhanli_shared.events.contracts import all_contracts
from zhanli_shared.events.kafka import dead_letter_topic

SCHEMA_DIR = Path(__file__).parent / "schemas"
ASYNCAPI_PATH = SCHEMA_DIR.parent / "asyncapi.json"


def contract_schema(topic: str) -> dict[str, Any]:
    model = all_contracts()[topic]
    schema = model.model_json_schema(mode="serialization")
    schema["$id"] = f"urn:zhanli:event:{topic}"
    schema["x-zhanli-partition-key"] = model.key_field
    return schema


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def asyncapi() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic, model in all_contracts().items():
        name = topic.replace(".", "_")
        messages[name] = {
            "name": topic,
            "title": model.__name__,
            "summary": model.description or (model.__doc__ or "").strip(),
            "contentType": "application/cloudevents+json",
            "payload": contract_schema(topic),
            "bindings": {
                "kafka": {
                    "key": {"type": "string", "description": f"the event's {model.key_field}"}
                }
            },
        }
        channels[name] = {
            "address": topic,
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        operations[f"publish_{name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{name}"},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Zhanli events",
            "version": "1.0.0",
            "description": (
                "Every event travels in a CloudEvents 1.0 JSON envelope (structured mode) whose "
                "`type` equals the topic and whose `data` is the payload below. Each consumer "
                "group has a dead-letter topic, e.g. " + dead_letter_topic("zhanli-kpi") + "."
            ),
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def write() -> list[Path]:
    SCHEMA_DIR.mkdir(exist_ok=True)
    written = []
    for topic in all_contracts():
        path = SCHEMA_DIR / f"{topic}.json"
        path.write_text(render(contract_schema(topic)))
        written.append(path)
    ASYNCAPI_PATH.write_text(render(asyncapi()))
    written.append(ASYNCAPI_PATH)
    return written


if __name__ == "__main__":
    for p in write():
        print(p.relative_to(Path.cwd()) if p.is_relative_to(Path.cwd()) else p, file=sys.stdout)
