"""Business dates the API accepts: 2000-01-01 to 2099-12-31 (a path, a week or a due date
computed from a date near ``date.max`` would overflow)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator

FIRST, LAST = dt.date(2000, 1, 1), dt.date(2099, 12, 31)


def in_range(value: dt.date) -> dt.date:
    if not FIRST <= value <= LAST:
        raise ValueError(f"a date between {FIRST} and {LAST}")
    return value


BusinessDate = Annotated[dt.date, AfterValidator(in_range)]
