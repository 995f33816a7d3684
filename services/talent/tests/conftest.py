from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import zhanli_talent
from zhanli_shared.testing.plugin import DatabaseTarget
from zhanli_shared.testing.services import RunningService, running_service, service_settings
from zhanli_talent.main import create_app
from zhanli_talent.settings import TalentSettings

MIGRATIONS = Path(zhanli_talent.__file__).parent / "migrations"


@pytest.fixture(scope="module")
async def talent(
    db_backend: str, broker, keypair, issuer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningService]:
    target = DatabaseTarget(db_backend, tmp_path_factory.mktemp("talent"), "talent")
    settings = service_settings(
        TalentSettings, target, broker, keypair[1], reminder_interval_s=0, rescore_batch_size=3
    )
    async with running_service(create_app, settings, MIGRATIONS, issuer) as svc:
        yield svc
    await target.cleanup()
