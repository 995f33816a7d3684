"""Bulk ingestion: one request, up to ``BATCH_MAX`` items, one transaction, a result per item.

CRMs and ERPs sync in batches. A batch route (``POST /api/v1/<svc>/<things>:batch``)
takes ``{"items": [...]}``, each item the body the single route takes, and answers 200
with one ``ItemResult`` per item, in order:

- ``created``: written (in the request's one transaction, with its events and audit);
- ``exists``: an item whose source id is already stored with the same facts (a batch sent
  again after a timeout changes nothing: idempotent by source id);
- ``refused``: nothing of it was written; ``problem`` is the problem+json document the
  single route would have answered (``status``, ``detail``, the ``errors`` naming the field).

Each item is validated on its own (``parse_items``: a bad item is refused, the others go
on). Writing is either validate-then-write (check every item in memory against rows read
once and locked, then write the accepted ones in bulk: a fixed number of statements per
batch) or item by item in a savepoint (``in_savepoint``: an item that fails rolls back to
before it, nothing half-written). The batch itself fails whole (4xx, nothing written) only
when the envelope is wrong: not an object with ``items``, or more than ``BATCH_MAX``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from zhanli_shared.errors import ProblemError, problem_document

BATCH_MAX = 1000

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class BatchIn(BaseModel):
    """The envelope of a batch: each item is the JSON body the single route takes."""

    model_config = ConfigDict(extra="forbid")

    items: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=BATCH_MAX,
        description=f"Up to {BATCH_MAX} items, each the body of the single route",
    )


ItemStatus = Literal["created", "exists", "refused"]


class ItemResult(BaseModel):
    index: int = Field(description="Position of the item in the request")
    id: str | None = Field(default=None, description="The item's source id, when it has one")
    status: ItemStatus
    problem: dict[str, Any] | None = Field(
        default=None, description="What the single route would have answered (problem+json)"
    )


class BatchOut(BaseModel):
    created: int
    exists: int
    refused: int
    items: list[ItemResult]

    @classmethod
    def of(cls, results: Sequence[ItemResult]) -> BatchOut:
        ordered = sorted(results, key=lambda r: r.index)
        count = {"created": 0, "exists": 0, "refused": 0}
        for r in ordered:
            count[r.status] += 1
        return cls(items=ordered, **count)


def problem_of(exc: ProblemError, instance: str | None = None) -> dict[str, Any]:
    """The problem+json document of a domain error, as the single route answers it."""
    errors = [{"field": exc.field, "message": exc.detail}] if exc.field else None
    return problem_document(
        exc.status,
        exc.title,
        exc.detail,
        code=exc.code,
        instance=instance,
        errors=errors,
        **exc.extra,
    )


def validation_problem(exc: ValidationError, instance: str | None = None) -> dict[str, Any]:
    """The problem of an item the single route's body validation refuses (same fields)."""
    errors = [
        {
            "field": ".".join(str(p) for p in ("body", *e.get("loc", ()))),
            "message": e.get("msg", ""),
            "type": e.get("type"),
        }
        for e in exc.errors(include_url=False)
    ]
    fields = ", ".join(e["field"] for e in errors)
    return problem_document(
        422,
        "Validation failed",
        f"Invalid fields: {fields}",
        code="validation",
        instance=instance,
        errors=errors,
    )


def refused(
    index: int, item_id: str | None, exc: ProblemError | ValidationError, instance: str | None
) -> ItemResult:
    problem = (
        validation_problem(exc, instance)
        if isinstance(exc, ValidationError)
        else problem_of(exc, instance)
    )
    return ItemResult(index=index, id=item_id, status="refused", problem=problem)


def parse_items(
    model: type[M], raw: Sequence[dict[str, Any]], *, id_field: str | None, instance: str | None
) -> tuple[list[tuple[int, M]], list[ItemResult]]:
    """Validate each item as the single route validates its body: (index, item) of the
    valid ones, and a refused result for each invalid one."""
    valid: list[tuple[int, M]] = []
    bad: list[ItemResult] = []
    for i, item in enumerate(raw):
        try:
            valid.append((i, model.model_validate(item)))
        except ValidationError as exc:
            item_id = item.get(id_field) if id_field else None
            bad.append(refused(i, item_id if isinstance(item_id, str) else None, exc, instance))
    return valid, bad


async def in_savepoint(
    session: AsyncSession, write: Callable[[], Awaitable[T]]
) -> T | ProblemError:
    """Run one item's ``write`` in a savepoint: its result, or the ``ProblemError`` that
    refused it after everything it wrote was rolled back (an ``IntegrityError`` becomes the
    ``Conflict`` the single route answers)."""
    from zhanli_shared.errors import Conflict

    savepoint = await session.begin_nested()
    try:
        out = await write()
        await session.flush()
    except ProblemError as exc:
        await savepoint.rollback()
        return exc
    except IntegrityError:
        await savepoint.rollback()
        return Conflict("The request conflicts with data already stored.")
    except BaseException:
        await savepoint.rollback()
        raise
    await savepoint.commit()
    return out
