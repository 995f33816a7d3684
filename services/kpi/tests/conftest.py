from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import zhanli_kpi
from zhanli_kpi.main import create_app
from zhanli_kpi.settings import KpiSettings
from zhanli_shared.testing.plugin import DatabaseTarget
from zhanli_shared.testing.services import RunningService, running_service, service_settings

MIGRATIONS = Path(zhanli_kpi.__file__).parent / "migrations"


@pytest.fixture(scope="module")
async def kpi(
    db_backend: str, broker, keypair, issuer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningService]:
    target = DatabaseTarget(db_backend, tmp_path_factory.mktemp("kpi"), "kpi")
    settings = service_settings(KpiSettings, target, broker, keypair[1])
    async with running_service(create_app, settings, MIGRATIONS, issuer) as svc:
        yield svc
    await target.cleanup()
