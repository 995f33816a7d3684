"""The learning service runs the platform plumbing: health, readiness, metrics, directory."""

from __future__ import annotations

from pathlib import Path

import pytest

import zhanli_learning
from zhanli_learning.main import create_app
from zhanli_learning.settings import LearningSettings
from zhanli_shared.testing.plugin import DatabaseTarget
from zhanli_shared.testing.services import check_service_basics, running_service, service_settings


async def test_service_basics(db_backend: str, broker, keypair, issuer, tmp_path: Path) -> None:
    target = DatabaseTarget(db_backend, tmp_path, "learning")
    settings = service_settings(LearningSettings, target, broker, keypair[1])
    try:
        async with running_service(
            create_app, settings, Path(zhanli_learning.__file__).parent / "migrations", issuer
        ) as svc:
            await check_service_basics(svc)
    finally:
        await target.cleanup()


@pytest.mark.parametrize("mode", ["api", "relay", "consume"])
async def test_each_role_serves_health_and_metrics(mode: str) -> None:
    import httpx

    from zhanli_shared.runtime import Mode

    app = create_app(LearningSettings(), Mode(mode))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        assert (await client.get("/health/live")).status_code == 200
        assert (await client.get("/metrics")).status_code == 404  # its own listener
        assert (await client.get("/docs")).status_code == (200 if mode == "api" else 404)
