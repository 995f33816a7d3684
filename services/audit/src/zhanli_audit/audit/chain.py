"""The hash chain (pure: no I/O).

``hash = SHA-256(canonical JSON of the entry's fields + prev_hash)``; canonical JSON has
sorted keys, no whitespace, UTF-8 (``ensure_ascii=False``), times as UTC ISO 8601 with
microseconds. The first entry's ``prev_hash`` is 64 zeros.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

GENESIS = "0" * 64

# The fields covered by the hash (every stored column except ``hash`` itself).
HASHED_FIELDS = (
    "sequence",
    "audit_id",
    "occurred_at",
    "recorded_at",
    "actor_id",
    "actor_kind",
    "roles",
    "action",
    "entity_type",
    "entity_id",
    "before",
    "after",
    "request_id",
    "source_ip",
    "service",
    "prev_hash",
)


def _time(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime in the audit chain")
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def canonical(fields: Mapping[str, Any]) -> bytes:
    doc = {}
    for name in HASHED_FIELDS:
        value = fields[name]
        doc[name] = _time(value) if isinstance(value, dt.datetime) else value
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(fields)).hexdigest()
