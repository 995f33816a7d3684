from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import zhanli_commission
from zhanli_commission.main import create_app
from zhanli_commission.settings import CommissionSettings
from zhanli_shared.testing.plugin import DatabaseTarget
from zhanli_shared.testing.services import RunningService, running_service, service_settings

MIGRATIONS = Path(zhanli_commission.__file__).parent / "migrations"


@pytest.fixture(scope="module")
async def commission(
    db_backend: str, broker, keypair, issuer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningService]:
    target = DatabaseTarget(db_backend, tmp_path_factory.mktemp("commission"), "commission")
    settings = service_settings(CommissionSettings, target, broker, keypair[1])
    async with running_service(create_app, settings, MIGRATIONS, issuer) as svc:
        yield svc
    await target.cleanup()
