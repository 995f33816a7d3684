"""What the platform shows to whoever can reach it, on the real processes (the supervisor's
embedded default): Prometheus metrics are not on any API port, only on per-process
listeners bound to 127.0.0.1; an id out of the caller's scope is answered exactly like an
unknown one, so ids cannot be enumerated."""

from __future__ import annotations

import json
import time
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


def test_a_departure_stops_the_persons_tokens_and_api_keys(world: World) -> None:
    """HR marks a person as left: the API key they own stops at once (this gateway forgets
    it; the people service reads it as revoked), their unexpired token within moments in
    every service (each one's directory projection), and they cannot sign in again."""
    from zl_seckit import ROOT_UNIT, TEAM_B

    admin = world.client("admin")
    eid = f"S-LEAVER-{uuid.uuid4().hex[:6].upper()}"
    person = {
        "employee_id": eid,
        "name": "离职测试",
        "org_unit_id": TEAM_B,
        "job_role": "salesperson",
        "roles": ["salesperson"],
        "status": "active",
        "hired_on": "2026-01-05",
    }
    assert admin.put(f"/api/v1/directory/employees/{eid}", json=person).status_code == 200
    username, password = f"leaver-{uuid.uuid4().hex[:6]}", "leaver-pw-1"
    created = admin.post(
        "/api/v1/auth/users",
        json={
            "username": username,
            "password": password,
            "employee_id": eid,
            "roles": ["salesperson"],
        },
    )
    assert created.status_code == 201, created.text
    token = world.platform.token(username, password)  # type: ignore[attr-defined]
    key = admin.post(
        "/api/v1/auth/api-keys",
        json={"name": "离职者的脚本", "roles": ["integration"], "owner": eid},
    )
    assert key.status_code == 201, key.text
    base = world.base
    mine = {"authorization": f"Bearer {token}"}
    keyed = {"x-api-key": key.json()["api_key"]}
    statement = f"/api/v1/commission/people/{eid}/statement"
    record = f"/api/v1/directory/employees/{eid}"
    units = "/api/v1/directory/org-units"

    def status(path: str, headers: dict[str, str]) -> int:
        return httpx.get(base + path, headers=headers, timeout=15).status_code

    deadline = time.monotonic() + 60
    while status(statement, mine) != 200:  # the person reached commission
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert status(record, mine) == 200 and status(units, keyed) == 200

    left = admin.put(f"/api/v1/directory/employees/{eid}", json={**person, "status": "left"})
    assert left.status_code == 200, left.text
    assert status(units, keyed) == 401  # at once: no cache window
    deadline = time.monotonic() + 60
    while status(statement, mine) != 401 or status(record, mine) != 401:
        assert time.monotonic() < deadline, "the departed person's token still works"
        time.sleep(0.2)
    signin = httpx.post(
        base + "/api/v1/auth/token", json={"username": username, "password": password}, timeout=15
    )
    assert signin.status_code == 401
    assert ROOT_UNIT  # the company the world built is untouched
    assert admin.get(record).status_code == 200


@pytest.mark.parametrize("kid", ["../../etc/passwd", "' OR 1=1--", "http://evil.example/k"])
@pytest.mark.parametrize("path", ["/api/v1/commission/people/S-TEAM/statement", "/api/v1/me"])
def test_a_token_whose_kid_is_a_path_or_sql_is_refused(world: World, kid: str, path: str) -> None:
    """Signed with the platform's real key, admin roles, only the kid is hostile: 401."""
    import datetime as dt

    import jwt

    keys = world.platform.var / "keys"  # type: ignore[attr-defined]
    now = dt.datetime.now(dt.UTC)
    claims = {
        "iss": "zhanli-local",
        "aud": "zhanli",
        "sub": "admin",
        "iat": now,
        "nbf": now,
        "exp": now + dt.timedelta(minutes=10),
        "roles": ["hr_admin", "it_ops"],
        "org_units": [],
    }
    token = jwt.encode(
        claims, (keys / "jwt-private.pem").read_text(), algorithm="RS256", headers={"kid": kid}
    )
    r = httpx.get(world.base + path, headers={"authorization": f"Bearer {token}"}, timeout=15)
    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == "application/problem+json"


def test_a_checkpoint_of_the_audit_chain_verifies_with_the_gateways_public_key(
    world: World,
) -> None:
    """Signed by the audit service with the platform's key: the gateway's JWKS key (and the
    public PEM a copy-holder keeps) verifies it offline; the live chain agrees with it."""
    import jwt

    ops = world.client("it_ops")
    cp = ops.get("/api/v1/audit/checkpoint")
    assert cp.status_code == 200, cp.text
    doc = cp.json()
    jwks = httpx.get(world.base + "/.well-known/jwks.json", timeout=10).json()
    (key,) = [k for k in jwks["keys"] if k["kid"] == doc["kid"]]
    payload = jwt.decode(
        doc["signature"], jwt.PyJWK(key).key, algorithms=["RS256"], options={"verify_aud": False}
    )
    assert payload["sequence"] == doc["sequence"] and payload["hash"] == doc["hash"]
    verified = ops.post("/api/v1/audit/verify", json={"checkpoints": [doc]})
    assert verified.status_code == 200, verified.text
    assert verified.json()["ok"] is True and verified.json()["checkpoints"] == 1
