"""What the KPI service writes to the audit log: scores and targets are floats here, the
audit log records exact decimals (a float becomes the Decimal of its shortest repr)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def exact(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, dict):
        return {k: exact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [exact(v) for v in value]
    return value
