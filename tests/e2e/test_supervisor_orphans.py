"""`make run`'s supervisor killed outright (SIGKILL: no handler runs) leaves no child
behind: every child was started with PR_SET_PDEATHSIG (it gets SIGTERM when the supervisor
dies) and every service's stop is bounded (``shutdown_step_timeout_s`` per part), so the
broker, the services and the gateway all end, and none keeps its port. Processes are read
from /proc (never ``ps``, which cuts lines to the terminal width)."""

from __future__ import annotations

import importlib.util
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e"), pytest.mark.timeout(600)]


def _thin_slice() -> Any:
    spec = importlib.util.spec_from_file_location(
        "zhanli_e2e_thin_slice_for_orphans", ROOT / "tests/e2e/test_thin_slice.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time) of a process, or None when there is none."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text(errors="replace")
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[19])


def _descendants(root: int) -> dict[int, int]:
    """Every process below ``root``: pid -> start time (a reused pid is another process)."""
    parents: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(int(entry.name))
            if stat is not None:
                parents.setdefault(stat[1], []).append(int(entry.name))
                starts[int(entry.name)] = stat[2]
    found: dict[int, int] = {}
    todo = [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found[child] = starts[child]
                todo.append(child)
    return found


def _running(pid: int, started: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[2] == started and stat[0] != "Z"  # a zombie holds nothing


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    except OSError:
        return "?"


def test_no_child_outlives_a_supervisor_killed_outright(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    platform_run = _thin_slice().start_platform(tmp_path_factory.mktemp("orphans"), "--no-demo")
    platform = next(platform_run)
    children: dict[int, int] = {}
    try:
        children = _descendants(platform.proc.pid)
        commands = [_cmdline(pid) for pid in children]
        assert sum("broker" in c for c in commands) == 1, commands
        assert sum(" serve" in c for c in commands) >= 8, commands  # 7 services + gateway
        os.kill(platform.proc.pid, signal.SIGKILL)
        platform.proc.wait(30)
        deadline = time.monotonic() + 120  # each part of a stop is bounded (10 s)
        while True:
            left = [pid for pid, started in children.items() if _running(pid, started)]
            if not left:
                break
            assert time.monotonic() < deadline, [_cmdline(pid) for pid in left]
            time.sleep(0.2)
    finally:
        for pid, started in children.items():  # whatever the outcome, leave nothing running
            if _running(pid, started):
                os.kill(pid, signal.SIGKILL)
        platform_run.close()
