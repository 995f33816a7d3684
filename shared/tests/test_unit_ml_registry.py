"""zhanli_shared.ml.registry on SQLite and PostgreSQL: store, activate, roll back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import numpy as np
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from zhanli_shared.db import create_engine, ensure_schema, new_metadata
from zhanli_shared.errors import Conflict, NotFound
from zhanli_shared.ml.registry import ModelRegistry, define_model_tables
from zhanli_shared.ml.tabular import Dataset, Feature, FeatureSpec
from zhanli_shared.ml.training import TrainConfig, TrainResult, train
from zhanli_shared.testing.plugin import DatabaseTarget

metadata = new_metadata()
tables = define_model_tables(metadata)


@pytest.fixture(scope="module")
def result() -> TrainResult:
    rng = np.random.default_rng(8)
    X = rng.normal(size=(300, 3))
    y = (rng.random(300) < 1 / (1 + np.exp(-(X[:, 0] - X[:, 1])))).astype(int)
    spec = FeatureSpec(tuple(Feature(f"x{i}", "numeric") for i in range(3)))
    return train(Dataset.from_arrays(spec, X, y), TrainConfig(max_rounds=20, folds=3))


@pytest.fixture
async def sessions(db_target: DatabaseTarget) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine: AsyncEngine = create_engine(db_target.url, schema=db_target.schema)
    await ensure_schema(engine, db_target.schema)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield async_sessionmaker(engine, expire_on_commit=False)
    finally:
        await engine.dispose()


async def test_versions_activate_and_roll_back(
    sessions: async_sessionmaker[AsyncSession], result: TrainResult
) -> None:
    registry = ModelRegistry(tables)
    name = f"test.{uuid.uuid4().hex[:8]}"
    metrics = dict(result.metrics, extra=float("nan"))
    async with sessions() as s, s.begin():
        assert await registry.active(s, name) is None
        v1 = await registry.add(s, name, result.model, metrics=metrics, created_by="hr1")
        v2 = await registry.add(s, name, result.baseline, metrics=result.metrics, note="lr")
        v3 = await registry.add(s, name, result.model, metrics=result.metrics, status="rejected")
    assert (v1.version, v2.version, v3.version) == (1, 2, 3)
    assert v1.status == "candidate" and v1.metrics["extra"] is None
    assert v2.kind == "logistic"
    async with sessions() as s, s.begin():
        await registry.activate(s, name, 1, by="hr1")
        active = await registry.activate(s, name, 2, by="hr2")
        assert active.status == "active" and active.replaced_id == v1.id
        with pytest.raises(Conflict):
            await registry.activate(s, name, 3)
        with pytest.raises(NotFound):
            await registry.get(s, name, 9)
    async with sessions() as s:
        loaded = await registry.load_active(s, name)
        assert loaded is not None
        version, model = loaded
        assert version.version == 2 and model.kind == "logistic"
        X = np.zeros((2, 3))
        assert np.allclose(model.predict_proba(X), result.baseline.predict_proba(X))
        statuses = {v.version: v.status for v in await registry.versions(s, name)}
        assert statuses == {1: "retired", 2: "active", 3: "rejected"}
    async with sessions() as s, s.begin():
        back = await registry.rollback(s, name, by="hr1")
        assert back is not None and back.version == 1 and back.status == "active"
    async with sessions() as s, s.begin():
        assert await registry.rollback(s, name) is None  # nothing before v1: rules again
        assert await registry.active(s, name) is None
        with pytest.raises(Conflict):
            await registry.rollback(s, name)
    async with sessions() as s:
        loaded_model = await registry.load(s, await registry.get(s, name, 1))
        assert np.array_equal(loaded_model.predict_proba(X), result.model.predict_proba(X))
