"""errors.install_problem_handlers: every 4xx/5xx is RFC 9457 problem+json."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict

from zhanli_shared.errors import (
    PROBLEM_JSON,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    ProblemError,
    Unauthorized,
    Unprocessable,
    install_problem_handlers,
)


class Thing(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    amount: Decimal


class PaymentRequired(ProblemError):
    status, code, title = 402, "payment-required", "Pay first"


ERRORS: dict[str, ProblemError] = {
    "bad": BadRequest("bad input", field="name"),
    "unauthorized": Unauthorized("who are you"),
    "forbidden": Forbidden("not yours"),
    "missing": NotFound("no such thing"),
    "conflict": Conflict("already there", field="name", existing_id="t-1"),
    "unprocessable": Unprocessable("cannot do that"),
    "custom": PaymentRequired("pay up"),
}


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/things")
    async def create(thing: Thing) -> dict[str, str]:
        return {"name": thing.name}

    @app.get("/raise/{kind}")
    async def raise_(kind: str) -> None:
        raise ERRORS[kind]

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(418, "short and stout", headers={"X-Teapot": "yes"})

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def problem_of(response: httpx.Response, status: int) -> dict:  # type: ignore[type-arg]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://zhanli.dev/problems/")
    assert body["title"]
    return body


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/things", content=b'{"name": "x", "amount": ', headers={"content-type": "application/json"}
    )
    body = problem_of(r, 400)
    assert body["type"].endswith("/malformed-json")
    assert body["instance"] == "/things"


async def test_unknown_field_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    r = await client.post("/things", json={"name": "x", "amount": "1.00", "bogus_field": 1})
    body = problem_of(r, 422)
    assert body["type"].endswith("/validation")
    fields = [e["field"] for e in body["errors"]]
    assert fields == ["body.bogus_field"]
    assert "bogus_field" in body["detail"]


async def test_missing_and_invalid_fields_are_all_named(client: httpx.AsyncClient) -> None:
    r = await client.post("/things", json={"amount": "lots"})
    body = problem_of(r, 422)
    assert sorted(e["field"] for e in body["errors"]) == ["body.amount", "body.name"]


async def test_valid_request_passes(client: httpx.AsyncClient) -> None:
    r = await client.post("/things", json={"name": "x", "amount": "1.00"})
    assert r.status_code == 200 and r.json() == {"name": "x"}


@pytest.mark.parametrize("kind", sorted(ERRORS))
async def test_problem_errors_get_their_status(client: httpx.AsyncClient, kind: str) -> None:
    exc = ERRORS[kind]
    body = problem_of(await client.get(f"/raise/{kind}"), exc.status)
    assert body["type"].endswith("/" + exc.code)
    assert body["title"] == exc.title
    assert body["detail"] == exc.detail
    assert body["instance"] == f"/raise/{kind}"
    if exc.field:
        assert body["errors"] == [{"field": exc.field, "message": exc.detail}]
    else:
        assert "errors" not in body
    for key, value in exc.extra.items():
        assert body[key] == value


async def test_unhandled_exception_is_500_without_internals(client: httpx.AsyncClient) -> None:
    r = await client.get("/boom")
    body = problem_of(r, 500)
    assert body["type"].endswith("/internal")
    assert "hunter2" not in r.text and "secret" not in r.text


async def test_http_exceptions_and_unknown_routes_are_problems(client: httpx.AsyncClient) -> None:
    r = await client.get("/teapot")
    body = problem_of(r, 418)
    assert body["detail"] == "short and stout"
    assert r.headers["x-teapot"] == "yes"
    problem_of(await client.get("/no/such/route"), 404)
    problem_of(await client.delete("/things"), 405)
