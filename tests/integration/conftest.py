"""Fixtures of the event fault tests (helpers live in ``zl_evkit``)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# The helper module sits next to this file; make it importable under any --import-mode
# (importlib mode does not put test directories on sys.path).
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from zl_evkit import Svc, forget_contracts, open_service

from zhanli_shared.testing.plugin import DatabaseTarget


@pytest.fixture(scope="module", autouse=True)
def _forget_test_contracts() -> object:
    yield
    forget_contracts()


@pytest.fixture
async def svc(db_target: DatabaseTarget, broker) -> AsyncIterator[Svc]:  # type: ignore[no-untyped-def]
    """A throw-away service on this test's database, talking to the session broker."""
    service = await open_service(db_target.url, db_target.schema, broker.bootstrap)
    try:
        yield service
    finally:
        await service.close()


@pytest.fixture
async def offline_svc(db_target: DatabaseTarget) -> AsyncIterator[Svc]:
    """The same service for tests that need no broker at all."""
    service = await open_service(db_target.url, db_target.schema, "127.0.0.1:1")
    try:
        yield service
    finally:
        await service.close()
