"""The test plugin's CI rule: with ``CI`` set nothing is skipped; a skip (a missing tool,
a module-level ``importorskip``) fails instead. Run on a throw-away suite of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SUITE = {
    "test_missing_tool.py": (
        "import pytest\n"
        'pytest.importorskip("zhanli_no_such_tool", reason="the tool is not installed")\n'
        "def test_uses_the_tool():\n"
        "    pass\n"
    ),
    "test_skips.py": (
        "import pytest\n"
        "def test_runs():\n"
        "    pass\n"
        "def test_skips_at_run_time():\n"
        '    pytest.skip("no database here")\n'
        '@pytest.mark.skipif(True, reason="not on this machine")\n'
        "def test_skipped_by_marker():\n"
        "    pass\n"
        '@pytest.mark.xfail(reason="a known bug", strict=True)\n'
        "def test_expected_failure():\n"
        "    raise AssertionError\n"
    ),
}


def run(tmp_path: Path, ci: str | None, *files: str) -> subprocess.CompletedProcess[str]:
    for name in files:
        (tmp_path / name).write_text(SUITE[name])
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "zhanli_shared.testing.plugin",
            "-c",
            str(tmp_path / "pytest.ini"),
            "--rootdir",
            str(tmp_path),
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def summary(out: str) -> str:
    return out.strip().splitlines()[-1]


def test_outside_ci_skips_are_skips(tmp_path: Path) -> None:
    for ci in (None, "false"):
        r = run(tmp_path, ci, *SUITE)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "1 passed, 3 skipped, 1 xfailed" in summary(r.stdout), r.stdout


def test_in_ci_a_skip_fails_naming_its_reason(tmp_path: Path) -> None:
    r = run(tmp_path, "true", "test_skips.py")
    assert r.returncode == 1, r.stdout + r.stderr
    # a skip at run time fails; a skip marker (applied at set-up) is an error
    assert summary(r.stdout).startswith("1 failed, 1 passed, 1 xfailed, 1 error"), r.stdout
    for reason in ("no database here", "not on this machine"):
        assert f"CI does not skip: {reason}" in r.stdout, r.stdout


def test_in_ci_a_missing_tool_stops_the_run(tmp_path: Path) -> None:
    r = run(tmp_path, "true", "test_missing_tool.py")
    assert r.returncode == 2, r.stdout + r.stderr  # a collection error: the run is interrupted
    assert "CI does not skip: the tool is not installed" in r.stdout, r.stdout
