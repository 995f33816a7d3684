from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import zhanli_learning
from zhanli_learning.main import create_app
from zhanli_learning.settings import LearningSettings
from zhanli_shared.testing.plugin import DatabaseTarget
from zhanli_shared.testing.services import RunningService, running_service, service_settings

MIGRATIONS = Path(zhanli_learning.__file__).parent / "migrations"


@pytest.fixture(scope="module")
async def learning(
    db_backend: str, broker, keypair, issuer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningService]:
    target = DatabaseTarget(db_backend, tmp_path_factory.mktemp("learning"), "learning")
    settings = service_settings(LearningSettings, target, broker, keypair[1])
    assert isinstance(settings, LearningSettings)
    settings.sweep_interval_s = 0
    async with running_service(create_app, settings, MIGRATIONS, issuer) as svc:
        yield svc
    await target.cleanup()
