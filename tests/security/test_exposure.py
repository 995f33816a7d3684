"""What the platform shows to whoever can reach it, on the real processes (the supervisor's
embedded default): Prometheus metrics are not on any API port, only on per-process
listeners bound to 127.0.0.1."""

from __future__ import annotations

import json

import httpx
import pytest
from zl_seckit import World

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
