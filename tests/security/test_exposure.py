"""What the platform shows to whoever can reach it, on the real processes (the supervisor's
embedded default): Prometheus metrics are not on any API port, only on per-process
listeners bound to 127.0.0.1; an id out of the caller's scope is answered exactly like an
unknown one, so ids cannot be enumerated."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from zl_seckit import OTHER_MEMBER, TEAM_MEMBER, World, deal_of

from zhanli_shared.testing.scope import assert_answered_alike

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("security")]


def test_metrics_are_not_on_the_public_port_but_on_loopback_listeners(world: World) -> None:
    anonymous, admin = world.client(None), world.client("admin")
    for client in (anonymous, admin):
        r = client.get("/metrics")
        assert r.status_code == 404, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert "zhanli_http_requests_total" not in r.text
    # The services' API ports (internal) do not serve them either.
    ready = admin.get("/health/ready").json()["components"]
    upstreams = {name: c["url"] for name, c in ready.items() if "url" in c}
    assert {"commission", "people", "audit"} <= set(upstreams)
    for name, url in upstreams.items():
        assert httpx.get(url + "/metrics", timeout=10).status_code == 404, name
    ports = json.loads((world.platform.var / "metrics-ports.json").read_text())  # type: ignore[attr-defined]
    assert set(ports) == {"gateway", *upstreams}
    api_ports = {int(url.rsplit(":", 1)[1]) for url in upstreams.values()}
    assert not api_ports & set(ports.values())
    for name, port in ports.items():
        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert scraped.status_code == 200, name
        assert f'service="{name}"' in scraped.text, name


ENUMERABLE = {  # reads of person-scoped data: path template, method
    "directory": ("GET", "/api/v1/directory/employees/{id}"),
    "statement": ("GET", "/api/v1/commission/people/{id}/statement"),
    "statements": ("GET", "/api/v1/commission/people/{id}/statements/2026-11"),
    "disputes": ("GET", "/api/v1/commission/people/{id}/disputes"),
    "quota": ("GET", "/api/v1/commission/people/{id}/quotas/2026-11"),
    "what_if": ("POST", "/api/v1/commission/people/{id}/what-if"),
    "revenue": ("GET", "/api/v1/kpi/people/{id}/revenue"),
}


@pytest.mark.parametrize("read", sorted(ENUMERABLE))
def test_a_salesperson_cannot_tell_out_of_scope_ids_from_unknown_ones(
    world: World, read: str
) -> None:
    seller = world.client("salesperson")
    method, template = ENUMERABLE[read]
    body = {"amount": "1000.00"} if method == "POST" else None
    unknown_id = f"S-NOBODY-{uuid.uuid4().hex[:6].upper()}"
    unknown = seller.request(method, template.format(id=unknown_id), json=body)
    for hidden_id in (TEAM_MEMBER, OTHER_MEMBER):  # both exist, both out of scope
        hidden = seller.request(method, template.format(id=hidden_id), json=body)
        assert "x-zhanli-denied" not in hidden.headers  # the gateway strips the marker
        assert_answered_alike(hidden, hidden_id, unknown, unknown_id)


def test_a_deal_out_of_scope_looks_like_an_unknown_deal(world: World) -> None:
    seller = world.client("salesperson")
    hidden_id, unknown_id = deal_of(OTHER_MEMBER), f"D-NOBODY-{uuid.uuid4().hex[:6]}"
    hidden = seller.get(f"/api/v1/commission/deals/{hidden_id}")
    unknown = seller.get(f"/api/v1/commission/deals/{unknown_id}")
    assert_answered_alike(hidden, hidden_id, unknown, unknown_id)
