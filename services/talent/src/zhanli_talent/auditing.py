"""Audit values: the audit log refuses floats (money must stay exact), so scores and
weights are recorded as decimals of their shown precision."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def exact(value: Any) -> Any:
    """``value`` with every float turned into a Decimal (6 significant decimals)."""
    if isinstance(value, float):
        return Decimal(str(round(value, 6)))
    if isinstance(value, dict):
        return {k: exact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [exact(v) for v in value]
    return value
