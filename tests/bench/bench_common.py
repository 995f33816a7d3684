"""Shared pieces of the benchmark harness: results, progress lines, percentiles, processes."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

T0 = time.monotonic()


def say(message: str) -> None:
    print(f"[bench {time.monotonic() - T0:6.1f}s] {message}", flush=True)


def phase(title: str) -> None:
    say(f"=== {title}")


@dataclass
class Result:
    name: str
    value: float | None
    unit: str
    higher_is_better: bool
    baseline_name: str | None = None
    baseline_value: float | None = None
    ratio: float | None = None
    notes: str = ""

    def with_baseline(self, baseline: Result | None) -> Result:
        if baseline is not None and baseline.value:
            self.baseline_name = baseline.name
            self.baseline_value = baseline.value
            if self.value is not None:
                self.ratio = self.value / baseline.value
        return self

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        order = [
            "name",
            "value",
            "unit",
            "baseline_name",
            "baseline_value",
            "ratio",
            "higher_is_better",
            "notes",
        ]
        return {k: d[k] for k in order}


@dataclass
class BenchError(Exception):
    """A benchmark that ran but found the system wrong (lost, duplicated or refused work)."""

    message: str
    details: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class Ticker:
    """Prints ``report()`` every ``every`` seconds while a phase runs (an asyncio task)."""

    def __init__(self, report: Callable[[], str], every: float = 3.0) -> None:
        self.report = report
        self.every = every
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            say("  " + self.report())

    async def __aenter__(self) -> Ticker:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


# --- processes ------------------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode(errors="replace")
    except OSError:
        return None
    rest = raw[raw.rfind(")") + 2 :].split()
    return int(rest[1]), int(rest[19])  # fields 4 (ppid) and 22 (starttime)


def descendants(root: int) -> dict[int, int]:
    """Every live descendant of ``root``: pid -> start time (to tell a reused pid apart)."""
    children: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = _proc_stat(int(entry))
        if st is None:
            continue
        children.setdefault(st[0], []).append(int(entry))
        starts[int(entry)] = st[1]
    found: dict[int, int] = {}
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found[child] = starts[child]
                todo.append(child)
    return found


def alive_same(pid: int, start: int) -> bool:
    st = _proc_stat(pid)
    return st is not None and st[1] == start


def kill_remembered(procs: dict[int, int], grace_s: float = 5.0) -> list[int]:
    """SIGTERM, then SIGKILL, the remembered processes that are still the same processes."""
    live = [pid for pid, start in procs.items() if alive_same(pid, start)]
    for pid in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(alive_same(p, procs[p]) for p in live):
        time.sleep(0.1)
    for pid in live:
        if alive_same(pid, procs[pid]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return live


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Make SIGTERM unwind like Ctrl-C so every `finally` (stopping processes) runs."""

    def on_term(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def table(results: list[Result]) -> str:
    rows = [("name", "value", "unit", "baseline", "baseline value", "ratio", "better")]
    for r in results:
        rows.append(
            (
                r.name,
                fmt(r.value),
                r.unit,
                r.baseline_name or "-",
                fmt(r.baseline_value),
                fmt(r.ratio, 4) if r.ratio is not None else "-",
                "higher" if r.higher_is_better else "lower",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        lines.append(
            "  ".join(
                c.ljust(w) if i in (0, 2, 3, 6) else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def python() -> str:
    return sys.executable
