"""The pytest plugin every test suite loads (``-p zhanli_shared.testing.plugin``).

Fixtures:
- ``broker``: a real Tansu process on a free port, once per session;
- ``db_url``: parametrised over SQLite (always) and PostgreSQL (when TEST_DATABASE_URL is
  set); each PostgreSQL use gets its own schema, dropped afterwards, so reruns pass;
- ``keypair`` / ``issuer``: an RSA key pair and a token issuer for the test audience.

In CI (``CI`` set, as ``.ci/run`` does) nothing is skipped: a test or module that would
skip (a missing tool such as the Helm SDK, no ``TEST_DATABASE_URL``) fails instead, so a
green CI run means every test ran.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from zhanli_shared.auth import TokenIssuer, generate_rsa_keypair
from zhanli_shared.testing.broker import TansuBroker

TEST_ISSUER = "zhanli-test"
TEST_AUDIENCE = "zhanli"


def in_ci() -> bool:
    """``CI`` is set to anything but empty, 0, false or no."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _skip_reason(longrepr: object) -> str:
    reason = (
        str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    )
    return reason.removeprefix("Skipped: ")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and in_ci() and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"CI does not skip: {_skip_reason(report.longrepr)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and in_ci():  # a module-level skip / importorskip
        report.outcome = "failed"
        report.longrepr = f"CI does not skip: {_skip_reason(report.longrepr)}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_backend" in metafunc.fixturenames:
        backends = ["sqlite"]
        if os.environ.get("TEST_DATABASE_URL"):
            backends.append("postgres")
        metafunc.parametrize("db_backend", backends, scope="module")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    """A Tansu per test module: consumers read their topics from the start, so on a broker
    shared by the whole session every module waded through all earlier modules' events (a
    5,000-row import made later modules time out). Tansu starts in well under a second."""
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    b = TansuBroker(log_path=log).start()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def keypair() -> tuple[str, str]:
    return generate_rsa_keypair()


@pytest.fixture(scope="session")
def issuer(keypair: tuple[str, str]) -> TokenIssuer:
    return TokenIssuer(keypair[0], issuer=TEST_ISSUER, audience=TEST_AUDIENCE)


def postgres_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL")


async def drop_schema(url: str, schema: str) -> None:
    from sqlalchemy import text

    from zhanli_shared.db import create_engine

    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    await engine.dispose()


class DatabaseTarget:
    """Where one test's service keeps its tables: a SQLite file or a fresh PG schema."""

    def __init__(self, backend: str, tmp: Path, name: str) -> None:
        self.backend = backend
        self.schema: str | None = None
        if backend == "sqlite":
            self.url = f"sqlite+aiosqlite:///{tmp / (name + '.db')}"
        else:
            url = postgres_url()
            assert url, "TEST_DATABASE_URL is not set"
            self.url = url
            self.schema = f"t_{uuid.uuid4().hex[:10]}_{name}"

    def env(self, prefix: str) -> dict[str, str]:
        env = {f"{prefix}DATABASE_URL": self.url}
        if self.schema:
            env[f"{prefix}DATABASE_SCHEMA"] = self.schema
        return env

    async def cleanup(self) -> None:
        if self.schema:
            await drop_schema(self.url, self.schema)


@pytest.fixture
async def db_target(db_backend: str, tmp_path: Path) -> AsyncIterator[DatabaseTarget]:
    target = DatabaseTarget(db_backend, tmp_path, "svc")
    yield target
    await target.cleanup()


async def eventually(predicate, timeout_s: float = 30.0, interval_s: float = 0.05):
    """Poll ``predicate`` (sync or async) until it returns a truthy value, or fail."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    last = None
    while asyncio.get_running_loop().time() < deadline:
        last = predicate()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s}s (last value: {last!r})")
