"""The gateway's aggregated API documents (``zhanli_gateway.docs``): the merge itself (pure),
a service that is down, and the documents the running platform serves without a token."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from zl_seckit import World

from zhanli_gateway.docs import OpenAPIAggregator, merge_openapi
from zhanli_gateway.proxy import ProxyApp
from zhanli_shared.testing.broker import free_port

pytestmark = [pytest.mark.xdist_group("security")]


def _svc(name: str, schema: dict) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": name, "version": "1"},
        "paths": {
            f"/api/v1/{name}/things": {
                "get": {
                    "operationId": "list_things",
                    "responses": {
                        "200": {
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Thing"}
                                }
                            }
                        }
                    },
                }
            },
            "/health/live": {"get": {"responses": {}}},
        },
        "components": {"schemas": {"Thing": schema, "Shared": {"type": "string"}}},
    }


def test_merge_prefixes_colliding_components_and_rewrites_refs() -> None:
    gateway = {
        "openapi": "3.1.0",
        "info": {"title": "gw", "version": "1"},
        "paths": {"/api/v1/auth/token": {"post": {"operationId": "login", "responses": {}}}},
        "components": {"schemas": {"Thing": {"type": "integer"}, "Shared": {"type": "string"}}},
    }
    doc = merge_openapi(
        gateway,
        {
            "kpi": _svc("kpi", {"type": "object"}),
            "commission": _svc("commission", {"type": "array"}),
        },
        {"talent": "timeout"},
    )
    schemas = doc["components"]["schemas"]
    assert schemas["Thing"] == {"type": "integer"}  # the gateway's own keeps its name
    assert schemas["kpi_Thing"] == {"type": "object"}
    assert schemas["commission_Thing"] == {"type": "array"}
    assert "kpi_Shared" not in schemas and schemas["Shared"] == {"type": "string"}
    ref = doc["paths"]["/api/v1/kpi/things"]["get"]["responses"]["200"]["content"]
    assert ref["application/json"]["schema"]["$ref"] == "#/components/schemas/kpi_Thing"
    assert "/health/live" not in doc["paths"]  # not reachable through the gateway
    ops = [doc["paths"][f"/api/v1/{s}/things"]["get"]["operationId"] for s in ("kpi", "commission")]
    assert len(set(ops)) == 2  # colliding operationIds made unique
    assert doc["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}, {"clientCredentials": []}]
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["apiKeyAuth"] == schemes["apiKeyAuth"] | {"in": "header", "name": "X-API-Key"}
    flows = schemes["clientCredentials"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == "/api/v1/auth/oauth/token"
    assert doc["paths"]["/api/v1/auth/token"]["post"]["security"] == []
    assert doc["x-zhanli-unavailable"] == {"talent": "timeout"}


def test_merge_takes_the_paths_a_route_sends_to_a_service() -> None:
    audit = _svc("audit", {"type": "object"})
    audit["paths"]["/api/v1/webhooks/subscriptions"] = {"get": {"responses": {}}}
    audit["paths"]["/api/v1/elsewhere/x"] = {"get": {"responses": {}}}
    gateway = {"openapi": "3.1.0", "info": {"title": "gw", "version": "1"}, "paths": {}}
    doc = merge_openapi(gateway, {"audit": audit}, {}, {"webhooks": "audit", "other": "kpi"})
    assert {"/api/v1/audit/things", "/api/v1/webhooks/subscriptions"} <= set(doc["paths"])
    assert "/api/v1/elsewhere/x" not in doc["paths"]  # not routed to it: not reachable
    op = doc["paths"]["/api/v1/webhooks/subscriptions"]["get"]
    assert op["x-zhanli-service"] == "audit"


async def test_a_service_that_is_down_is_marked_not_fatal() -> None:
    proxy = ProxyApp({"kpi": f"http://127.0.0.1:{free_port()}"}, verifier=None)
    await proxy.start()
    try:
        aggregator = OpenAPIAggregator(proxy, timeout_s=1.0)
        gateway = {"openapi": "3.1.0", "info": {"title": "gw", "version": "1"}, "paths": {}}
        doc = await aggregator.document(gateway)
        assert set(doc["x-zhanli-unavailable"]) == {"kpi"}
        assert await aggregator.document(gateway) is doc  # cached
    finally:
        await proxy.close()


def test_merge_takes_the_paths_routed_to_a_service_by_another_segment() -> None:
    """The people service's /api/v1/directory/... and /api/v1/auth/... are in the document
    (sign-in public), but not a path the gateway keeps for itself."""
    gateway = {
        "openapi": "3.1.0",
        "info": {"title": "gw", "version": "1"},
        "paths": {"/api/v1/auth/oauth/token": {"post": {"operationId": "cc", "responses": {}}}},
    }
    people = {
        "openapi": "3.1.0",
        "info": {"title": "people", "version": "1"},
        "paths": {
            "/api/v1/directory/employees": {"get": {"responses": {}}},
            "/api/v1/auth/token": {"post": {"responses": {}}},
            "/api/v1/auth/oauth/token": {"post": {"operationId": "imposter", "responses": {}}},
            "/api/v1/elsewhere/x": {"get": {"responses": {}}},
        },
    }
    doc = merge_openapi(
        gateway,
        {"people": people},
        {},
        {"directory": "people", "auth": "people"},
        frozenset({"/api/v1/auth/oauth/token"}),
    )
    assert doc["paths"]["/api/v1/directory/employees"]["get"]["x-zhanli-service"] == "people"
    assert doc["paths"]["/api/v1/auth/token"]["post"]["security"] == []  # sign-in is public
    assert doc["paths"]["/api/v1/auth/oauth/token"]["post"]["operationId"] == "cc"
    assert "/api/v1/elsewhere/x" not in doc["paths"]


@pytest.mark.e2e
def test_platform_documents_are_public_and_complete(world: World) -> None:
    anonymous = world.client(None)
    r = anonymous.get("/api/v1/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert "x-zhanli-unavailable" not in doc
    assert {"/api/v1/commission/payments", "/api/v1/kpi/people/{employee_id}/revenue"} <= set(
        doc["paths"]
    )
    assert {"/api/v1/directory/employees", "/api/v1/audit/verify"} <= set(doc["paths"])
    webhooks = doc["paths"]["/api/v1/webhooks/subscriptions"]["post"]
    assert webhooks["x-zhanli-service"] == "audit"  # served by the audit service
    # the people service's routes, at their public paths
    assert doc["paths"]["/api/v1/directory/employees"]["get"]["x-zhanli-service"] == "people"
    assert doc["paths"]["/api/v1/auth/token"]["post"]["security"] == []
    assert "/api/v1/auth/api-keys" in doc["paths"]
    assert doc["components"]["securitySchemes"]["bearerAuth"]["type"] == "http"
    assert doc["components"]["securitySchemes"]["apiKeyAuth"]["type"] == "apiKey"
    assert doc["paths"]["/api/v1/auth/oauth/token"]["post"]["security"] == []
    assert doc["paths"]["/api/v1/commission/payouts"]["get"].get("security") is None  # global
    r = anonymous.get("/api/v1/asyncapi.json")
    assert r.status_code == 200
    shipped = (resources.files("zhanli_shared.events") / "asyncapi.json").read_text()
    assert r.json() == json.loads(shipped)
    page = anonymous.get("/api/v1/docs")
    assert page.status_code == 200 and "/api/v1/openapi.json" in page.text
    from zhanli_gateway.settings import docs_origins

    assert all(o in page.headers["content-security-policy"] for o in docs_origins())
