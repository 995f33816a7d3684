from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import zhanli_retention
from zhanli_retention.main import create_app
from zhanli_retention.settings import RetentionSettings
from zhanli_shared.testing.plugin import DatabaseTarget
from zhanli_shared.testing.services import RunningService, running_service, service_settings

MIGRATIONS = Path(zhanli_retention.__file__).parent / "migrations"


@pytest.fixture(scope="module")
async def retention(
    db_backend: str, broker, keypair, issuer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningService]:
    target = DatabaseTarget(db_backend, tmp_path_factory.mktemp("retention"), "retention")
    settings = service_settings(RetentionSettings, target, broker, keypair[1])
    async with running_service(create_app, settings, MIGRATIONS, issuer) as svc:
        yield svc
    await target.cleanup()
