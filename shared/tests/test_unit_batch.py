"""The batch envelope and per-item results of zhanli_shared.batch."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zhanli_shared.batch import (
    BATCH_MAX,
    BatchIn,
    BatchOut,
    ItemResult,
    parse_items,
    problem_of,
    refused,
)
from zhanli_shared.errors import Conflict, Unprocessable


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    thing_id: str = Field(min_length=1)
    amount: Decimal = Field(gt=0)


def test_envelope_limits() -> None:
    assert len(BatchIn(items=[{}] * BATCH_MAX).items) == BATCH_MAX
    with pytest.raises(ValidationError):
        BatchIn(items=[{}] * (BATCH_MAX + 1))
    with pytest.raises(ValidationError):
        BatchIn(items=[])
    with pytest.raises(ValidationError):
        BatchIn.model_validate({"items": [{}], "other": 1})


def test_each_item_validated_alone_with_the_single_routes_fields() -> None:
    valid, bad = parse_items(
        Thing,
        [
            {"thing_id": "a", "amount": "1.50"},
            {"thing_id": "b", "amount": "-1"},
            {"thing_id": "c", "amount": "2", "extra": True},
        ],
        id_field="thing_id",
        instance="/things:batch",
    )
    assert [(i, t.thing_id) for i, t in valid] == [(0, "a")]
    assert [(r.index, r.id, r.status) for r in bad] == [(1, "b", "refused"), (2, "c", "refused")]
    problem = bad[0].problem
    assert problem is not None
    assert problem["status"] == 422 and problem["instance"] == "/things:batch"
    assert problem["errors"][0]["field"] == "body.amount"
    assert bad[1].problem is not None and bad[1].problem["errors"][0]["field"] == "body.extra"


def test_domain_problems_as_the_single_route_answers_them() -> None:
    doc = problem_of(Unprocessable("Too much.", field="amount"), "/x")
    assert doc["status"] == 422 and doc["detail"] == "Too much."
    assert doc["errors"] == [{"field": "amount", "message": "Too much."}]
    r = refused(3, "id-3", Conflict("Already there.", field="thing_id"), None)
    assert (r.status, r.problem and r.problem["status"]) == ("refused", 409)


def test_batch_out_counts_in_item_order() -> None:
    out = BatchOut.of(
        [
            ItemResult(index=2, id="c", status="exists"),
            ItemResult(index=0, id="a", status="created"),
            refused(1, "b", Unprocessable("No."), None),
        ]
    )
    assert [i.index for i in out.items] == [0, 1, 2]
    assert (out.created, out.exists, out.refused) == (1, 1, 1)
