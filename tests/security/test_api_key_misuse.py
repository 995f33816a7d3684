"""API keys misused, through the real platform (the embedded supervisor, ``--no-demo``).

A key is worth exactly its roles: an ``integration`` key gets the integration user's
answers on every read of the authorisation matrix (never more), cannot reach the
administrators' endpoints, cannot mint keys (not even with ``it_ops``), and a key that is
malformed, guessed, revoked or sent next to a bearer token is a 401 problem+json. The
client-credentials grant gives nothing more than the key and refuses a wrong secret.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from test_authz_matrix import COLUMNS, TARGETED, TARGETS, UNTARGETED, check_status, request_for
from zl_seckit import World

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("security")]

KEYS = "/api/v1/auth/api-keys"
TOKEN = "/api/v1/auth/oauth/token"
FORM = {"content-type": "application/x-www-form-urlencoded"}


def _key(world: World, roles: list[str], creator: str = "admin") -> dict[str, Any]:
    r = world.client(creator).post(KEYS, json={"name": f"misuse {roles}", "roles": roles})
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture(scope="module")
def crm(world: World) -> dict[str, Any]:
    return _key(world, ["integration"])


def _key_client(world: World, key: str) -> httpx.Client:
    return httpx.Client(base_url=world.base, timeout=15, headers={"x-api-key": key})


def _read_cells() -> list[Any]:
    """The matrix's read cells of the integration role. Its ``own`` cells are left out: the
    integration user's ``own`` is its username in the path (``sub`` matches it, and a
    service that lets the subject itself in then finds no such person: 404), while a key's
    subject is the key, so the same path is someone else's to it (403 or 404 by the no-
    enumeration rule): the two are not the same question."""
    cells = []
    role = "integration"
    for endpoint, r, *expected in TARGETED:
        if r != role or request_for(endpoint, role, "team")[0] != "GET":
            continue
        for target, want in zip(TARGETS, expected, strict=True):
            if target == "own":
                continue
            cells.append(pytest.param(endpoint, target, want, id=f"{endpoint}-{target}"))
    for endpoint, row in UNTARGETED.items():
        want = row[COLUMNS.index(role)]
        if request_for(endpoint, role, None)[0] == "GET":
            cells.append(pytest.param(endpoint, None, want, id=endpoint))
    return cells


@pytest.mark.parametrize(("endpoint", "target", "want"), _read_cells())
def test_an_integration_key_gets_the_integration_roles_answers(
    world: World, crm: dict[str, Any], endpoint: str, target: str | None, want: Any
) -> None:
    method, url, body = request_for(endpoint, "integration", target)
    with _key_client(world, crm["api_key"]) as client:
        check_status(client.request(method, url, json=body), want)


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        (
            "POST",
            "/api/v1/auth/users",
            {"username": "k-evil", "password": "evil-pass-1", "roles": ["hr_admin"]},
        ),
        ("POST", KEYS, {"name": "successor", "roles": ["integration"]}),
        ("GET", KEYS, None),
        ("DELETE", f"{KEYS}/0000000000000000", None),
        ("GET", "/api/v1/audit/entries", None),
        ("GET", "/api/v1/commission/people/S-TEAM/statement", None),
    ],
    ids=["users", "mint-key", "list-keys", "revoke-key", "audit", "pay"],
)
def test_an_integration_key_cannot_reach_what_integration_cannot(
    world: World, crm: dict[str, Any], method: str, url: str, body: Any
) -> None:
    # A read of someone's pay out of scope is answered like an unknown person (404, no id
    # enumeration); the administrators' endpoints refuse (403).
    want = 404 if url.startswith("/api/v1/commission/people/") else 403
    with _key_client(world, crm["api_key"]) as client:
        check_status(client.request(method, url, json=body), want)


def test_keys_never_mint_keys_and_it_ops_grants_no_people_roles(world: World) -> None:
    ops_key = _key(world, ["it_ops"])
    with _key_client(world, ops_key["api_key"]) as client:
        r = client.post(KEYS, json={"name": "successor", "roles": ["integration"]})
        check_status(r, 403)
    r = world.client("it_ops").post(KEYS, json={"name": "x", "roles": ["hr_admin"]})
    check_status(r, 403)
    assert r.json()["errors"][0]["field"] == "roles"
    ok = world.client("it_ops").post(KEYS, json={"name": "ok", "roles": ["integration"]})
    assert ok.status_code == 201


def test_unusable_keys_are_401(world: World, crm: dict[str, Any]) -> None:
    key, key_id = crm["api_key"], crm["key_id"]
    url = "/api/v1/directory/org-units"
    bad_keys = [
        "",
        "zl_",
        "zl_0000000000000000_" + "A" * 43,  # unknown id
        f"zl_{key_id}_" + "A" * 43,  # guessed secret
        key[:-1],  # truncated
        key.upper(),
        "x" * 5000,
    ]
    for bad in bad_keys:
        with _key_client(world, bad) as client:
            r = client.get(url)
            if bad == "":
                assert r.status_code == 401  # an empty header: malformed
            check_status(r, 401)
    # the key and a bearer token at once: refused, never merged
    r = httpx.get(
        world.base + url,
        headers={"x-api-key": key, "authorization": f"Bearer {world.tokens['salesperson']}"},
    )
    check_status(r, 401)
    # the key where a bearer token goes: not a token
    r = httpx.get(world.base + url, headers={"authorization": f"Bearer {key}"})
    check_status(r, 401)
    # a key in the query string is not a credential
    check_status(httpx.get(world.base + url, params={"api_key": key}), 401)


def test_client_credentials_give_nothing_more_than_the_key(world: World) -> None:
    created = _key(world, ["integration"])
    key_id, key = created["key_id"], created["api_key"]
    basic = base64.b64encode(f"{key_id}:{key}".encode()).decode()
    r = httpx.post(
        world.base + TOKEN,
        content="grant_type=client_credentials&scope=integration%20hr_admin",
        headers={**FORM, "authorization": f"Basic {basic}"},
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_scope", r.text
    wrong = base64.b64encode(f"{key_id}:zl_{key_id}_guess".encode()).decode()
    r = httpx.post(
        world.base + TOKEN,
        content="grant_type=client_credentials",
        headers={**FORM, "authorization": f"Basic {wrong}"},
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
    r = httpx.post(
        world.base + TOKEN,
        content="grant_type=client_credentials",
        headers={**FORM, "authorization": f"Basic {basic}"},
    )
    assert r.status_code == 200, r.text
    bearer = {"authorization": "Bearer " + r.json()["access_token"]}
    users = httpx.post(
        world.base + "/api/v1/auth/users",
        headers=bearer,
        json={"username": "cc-evil", "password": "evil-pass-1", "roles": ["hr_admin"]},
    )
    check_status(users, 403)
    # revoked: the key and the tokens issued for it are refused at once (one gateway)
    assert world.client("admin").delete(f"{KEYS}/{key_id}").status_code == 204
    check_status(httpx.get(world.base + "/api/v1/directory/org-units", headers=bearer), 401)
    with _key_client(world, key) as client:
        check_status(client.get("/api/v1/directory/org-units"), 401)
