"""Tests under one member import only that member and ``zhanli_shared``: a member's suite
must run from the member's own lock, and a test that needs two services lives in
``tests/`` (cross-service), where it says so. Loading another suite's files by path
(``importlib.util.spec_from_file_location``) is the same thing by another door."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = "zhanli_shared"


def members(root: Path) -> dict[Path, str]:
    """Each member's directory and its import name (``<member>/src/zhanli_<name>``)."""
    found: dict[Path, str] = {}
    for pyproject in sorted(
        [*root.glob("*/pyproject.toml"), *root.glob("services/*/pyproject.toml")]
    ):
        packages = [p.name for p in (pyproject.parent / "src").glob("zhanli_*") if p.is_dir()]
        if packages:
            assert len(packages) == 1, (pyproject.parent, packages)
            found[pyproject.parent] = packages[0]
    return found


def foreign_imports(test_file: Path, own: str) -> list[str]:
    """What ``test_file`` takes from outside ``own`` and ``zhanli_shared``."""
    tree = ast.parse(test_file.read_text(), filename=str(test_file))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Call):
            func = node.func
            called = getattr(func, "attr", None) or getattr(func, "id", None)
            first = node.args[0] if node.args else None
            if called == "spec_from_file_location":
                found.append(f"line {node.lineno}: loads a file by path")
            elif (
                called in ("import_module", "__import__")
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                names = [first.value]
        for name in names:
            top = name.split(".")[0]
            if top.startswith("zhanli_") and top not in (own, SHARED):
                found.append(f"line {node.lineno}: imports {name}")
    return found


def test_every_member_is_found() -> None:
    found = members(ROOT)
    assert found[ROOT / "gateway"] == "zhanli_gateway" and found[ROOT / "shared"] == SHARED
    services = {p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml")}
    assert {f"zhanli_{s}" for s in services} <= set(found.values())


def test_member_tests_import_only_their_member_and_shared() -> None:
    problems = []
    for member, package in members(ROOT).items():
        for test_file in sorted((member / "tests").rglob("*.py")):
            for problem in foreign_imports(test_file, package):
                problems.append(f"{test_file.relative_to(ROOT)} {problem}")
    assert not problems, (
        "a member's tests may import only that member and zhanli_shared; move tests that "
        "need another service to tests/:\n" + "\n".join(problems)
    )


def test_the_check_sees_every_door(tmp_path: Path) -> None:
    bad = tmp_path / "test_bad.py"
    bad.write_text(
        "import importlib\n"
        "import importlib.util\n"
        "import zhanli_gateway\n"
        "import zhanli_shared.money\n"
        "from zhanli_kpi.main import create_app\n"
        "from zhanli_gateway.settings import GatewaySettings\n"
        "from . import helpers\n"
        "def test_x():\n"
        '    importlib.import_module("zhanli_talent.main")\n'
        '    importlib.util.spec_from_file_location("m", "tests/e2e/test_thin_slice.py")\n'
    )
    assert foreign_imports(bad, "zhanli_gateway") == [
        "line 5: imports zhanli_kpi.main",
        "line 9: imports zhanli_talent.main",
        "line 10: loads a file by path",
    ]
