"""Machine identities across services: API keys (stored by the people service) and the
OAuth2 client-credentials grant (the gateway's).

The gateway runs next to an "enterprise IdP" (the test issuer, ``zhanli-test``) and signs
machine tokens with its own key as issuer ``http://127.0.0.1:<port>``; the people service
(uvicorn on a real port: the gateway proxies to it and looks keys up on its internal
endpoint) signs the built-in sign-in with the same key and issuer; a real KPI service
trusts the IdP by public key and the gateway by OIDC discovery, served by a tiny real HTTP
server holding the gateway's own discovery document and JWKS (byte for byte).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import http.server
import json
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from jwt.algorithms import RSAAlgorithm
from pydantic import SecretStr
from sqlalchemy import select, update

import zhanli_gateway
import zhanli_kpi
import zhanli_people
from zhanli_gateway.main import create_app
from zhanli_gateway.settings import GatewaySettings
from zhanli_kpi.main import create_app as create_kpi
from zhanli_kpi.settings import KpiSettings
from zhanli_people.apikeys.models import ApiKey
from zhanli_people.main import create_app as create_people
from zhanli_people.settings import PeopleSettings
from zhanli_shared import apikeys as core
from zhanli_shared.auth import TokenIssuer, generate_rsa_keypair
from zhanli_shared.events.contracts.gateway import RequestAudited
from zhanli_shared.events.kafka import make_consumer
from zhanli_shared.migrations import upgrade
from zhanli_shared.settings import TrustedIssuer
from zhanli_shared.testing.broker import free_port
from zhanli_shared.testing.plugin import TEST_AUDIENCE, TEST_ISSUER, DatabaseTarget, eventually
from zhanli_shared.testing.services import (
    RunningService,
    running_service,
    service_settings,
    serving,
)

ADMIN_PASSWORD = "s3cret-admin-key-test"
CACHE_TTL = 0.5
KEYS = "/api/v1/auth/api-keys"
TOKEN = "/api/v1/auth/oauth/token"
FORM = {"content-type": "application/x-www-form-urlencoded"}


# --- a tiny real HTTP server (a thread of its own: the verifiers fetch synchronously) ----


class StaticServer:
    """Serves a dict path -> JSON document over real HTTP on 127.0.0.1."""

    def __init__(self, port: int | None = None) -> None:
        self.docs: dict[str, Any] = {}
        self.hits: list[str] = []
        docs, hits = self.docs, self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                if self.path not in docs:
                    self.send_error(404)
                    return
                body = json.dumps(docs[self.path]).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port or 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StaticServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def jwk_of(public_pem: str, kid: str) -> dict[str, Any]:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    key = json.loads(RSAAlgorithm.to_jwk(load_pem_public_key(public_pem.encode())))
    key.update({"kid": kid, "use": "sig", "alg": "RS256"})
    return key


# --- the platform of this module -----------------------------------------------------------


@dataclass
class Platform:
    gw: RunningService
    issuer_url: str  # the gateway's own issuer
    kpi: str  # the KPI service's own URL (to show it is real)
    people: Any  # the people service's app (its runtime: the key store)

    def people_sessions(self) -> Any:
        return self.people.state.runtime.sessions()

    @property
    def client(self) -> httpx.AsyncClient:
        return self.gw.client


@pytest.fixture(scope="module")
async def platform(
    db_backend: str, broker, keypair, issuer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Platform]:
    from zhanli_shared.events.kafka import dead_letter_topic, ensure_topics
    from zhanli_shared.topics import platform_topics

    tmp = tmp_path_factory.mktemp("apikeys")
    gw_target = DatabaseTarget(db_backend, tmp, "gateway")
    cm_target = DatabaseTarget(db_backend, tmp, "kpi")
    pp_target = DatabaseTarget(db_backend, tmp, "people")
    # the built-in issuer's key (not the IdP's): the gateway and the people service sign with it
    gw_private, gw_public = generate_rsa_keypair()
    kpi_port, people_port, mirror_port = free_port(), free_port(), free_port()
    issuer_url = f"http://127.0.0.1:{mirror_port}"
    settings = service_settings(
        GatewaySettings,
        gw_target,
        broker,
        keypair[1],  # the IdP's public key
        auth_private_key=SecretStr(gw_private),
        local_issuer=issuer_url,
        upstreams={
            "kpi": f"http://127.0.0.1:{kpi_port}",
            "people": f"http://127.0.0.1:{people_port}",
        },
        api_key_cache_ttl_s=CACHE_TTL,
        rate_limit_login_burst=500,  # this module signs in often (and the token endpoint counts)
    )
    pp_settings = service_settings(
        PeopleSettings,
        pp_target,
        broker,
        keypair[1],  # trusts the IdP ...
        port=people_port,
        auth_private_key=SecretStr(gw_private),
        local_issuer=issuer_url,
        bootstrap_admin_password=SecretStr(ADMIN_PASSWORD),
        # ... and the built-in issuer (its own sign-ins, the gateway's service token)
        auth_extra_issuers=[TrustedIssuer(issuer=issuer_url, public_key=gw_public)],
    )
    await asyncio.to_thread(
        upgrade, pp_settings, Path(zhanli_people.__file__).parent / "migrations"
    )
    people_app = create_people(pp_settings)
    async with (
        serving(people_app, people_port),
        running_service(
            create_app, settings, Path(zhanli_gateway.__file__).parent / "migrations", issuer
        ) as gw,
    ):
        discovery = (await gw.client.get("/.well-known/openid-configuration")).json()
        jwks = (await gw.client.get("/.well-known/jwks.json")).json()
        with StaticServer(mirror_port) as mirror:
            mirror.docs["/.well-known/openid-configuration"] = discovery
            mirror.docs["/.well-known/jwks.json"] = jwks
            cm_settings = service_settings(
                KpiSettings,
                cm_target,
                broker,
                keypair[1],  # trusts the IdP ...
                port=kpi_port,
                # ... and the gateway's machine tokens, found by discovery
                auth_extra_issuers=[TrustedIssuer(issuer=issuer_url, discovery=True)],
            )
            await ensure_topics(
                cm_settings, [*platform_topics(), dead_letter_topic(cm_settings.consumer_group)]
            )
            await asyncio.to_thread(
                upgrade, cm_settings, Path(zhanli_kpi.__file__).parent / "migrations"
            )
            async with serving(create_kpi(cm_settings), kpi_port):
                assert "/.well-known/openid-configuration" in mirror.hits  # fetched at start
                yield Platform(gw, issuer_url, f"http://127.0.0.1:{kpi_port}", people_app)
    await gw_target.cleanup()
    await cm_target.cleanup()
    await pp_target.cleanup()


async def admin(p: Platform) -> dict[str, str]:
    r = await p.client.post(
        "/api/v1/auth/token", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert r.status_code == 200, r.text
    return {"authorization": "Bearer " + r.json()["access_token"]}


async def new_key(p: Platform, roles: list[str], **extra: Any) -> dict[str, Any]:
    r = await p.client.post(
        KEYS, headers=await admin(p), json={"name": "CRM sync", "roles": roles, **extra}
    )
    assert r.status_code == 201, r.text
    return r.json()


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json", r.headers
    return r.json()


# --- tests ---------------------------------------------------------------------------------


async def test_create_list_revoke_and_the_secret_never_leaks(platform: Platform) -> None:
    h = await admin(platform)
    r = await platform.client.post(
        KEYS,
        headers=h,
        json={"name": "ERP (Kingdee) sync", "owner": "finance-it", "roles": ["integration"]},
    )
    assert r.status_code == 201, r.text
    created = r.json()
    key, key_id = created["api_key"], created["key_id"]
    assert core.parse_key(key) is not None and key.startswith(f"zl_{key_id}_")
    secret = core.parse_key(key)[1]
    assert created["roles"] == ["integration"] and created["owner"] == "finance-it"
    assert created["created_by"] == "admin" and created["revoked_at"] is None

    listed = await platform.client.get(KEYS, headers=h)
    assert listed.status_code == 200
    assert key_id in {k["key_id"] for k in listed.json()}
    one = await platform.client.get(f"{KEYS}/{key_id}", headers=h)
    assert one.status_code == 200 and "api_key" not in one.json()
    stored_hash = core.hash_secret(key_id, secret)
    for text in (listed.text, one.text):
        assert secret not in text and stored_hash not in text

    # stored only as a hash, by the people service
    async with platform.people_sessions() as s:
        row = await s.get(ApiKey, key_id)
        assert row.secret_hash == stored_hash and secret not in row.secret_hash

    revoked = await platform.client.delete(f"{KEYS}/{key_id}", headers=h)
    assert revoked.status_code == 204
    assert (await platform.client.delete(f"{KEYS}/{key_id}", headers=h)).status_code == 204
    problem(await platform.client.delete(f"{KEYS}/0000000000000000", headers=h), 404)
    active = (await platform.client.get(KEYS, headers=h)).json()
    assert key_id not in {k["key_id"] for k in active}
    every = (await platform.client.get(KEYS, params={"include_revoked": "true"}, headers=h)).json()
    (gone,) = [k for k in every if k["key_id"] == key_id]
    assert gone["revoked_at"] and gone["revoked_by"] == "admin"

    # audited: created and revoked (once), in the people service's outbox (the audit
    # service chains them)
    outbox = platform.people.state.runtime.tables.outbox
    async with platform.people_sessions() as s:
        payloads = (
            (await s.execute(select(outbox.c.payload).where(outbox.c.topic.like("zhanli.audit%"))))
            .scalars()
            .all()
        )
    mine = [json.loads(p) for p in payloads if key_id in p]
    actions = sorted(m["data"]["action"] for m in mine)
    assert actions == ["identity.api_key.created", "identity.api_key.revoked"], actions
    for text in payloads:
        assert secret not in text and stored_hash not in text


async def test_least_privilege_when_granting_keys(platform: Platform, issuer) -> None:
    h = await admin(platform)
    # (created by an IdP person: the broker is shared by the session, and other modules
    # look for users created by 'admin')
    hr = {"authorization": "Bearer " + issuer.issue("HR-K", ["hr_admin"])}
    r = await platform.client.post(
        "/api/v1/auth/users",
        headers=hr,
        json={"username": "ops-keys", "password": "ops-password", "roles": ["it_ops"]},
    )
    assert r.status_code == 201, r.text
    login = await platform.client.post(
        "/api/v1/auth/token", json={"username": "ops-keys", "password": "ops-password"}
    )
    ops = {"authorization": "Bearer " + login.json()["access_token"]}
    ok = await platform.client.post(
        KEYS, headers=ops, json={"name": "HRIS", "roles": ["integration"]}
    )
    assert ok.status_code == 201, ok.text
    escalate = await platform.client.post(
        KEYS, headers=ops, json={"name": "x", "roles": ["integration", "hr_admin"]}
    )
    assert problem(escalate, 403)["errors"][0]["field"] == "roles"
    # hr_admin may grant any role
    assert (
        await platform.client.post(KEYS, headers=h, json={"name": "y", "roles": ["finance"]})
    ).status_code == 201
    # a person from the IdP without the roles: refused; nobody: 401
    sales = {"authorization": "Bearer " + issuer.issue("E1", ["salesperson"])}
    problem(
        await platform.client.post(
            KEYS, headers=sales, json={"name": "z", "roles": ["integration"]}
        ),
        403,
    )
    problem(await platform.client.get(KEYS, headers=sales), 403)
    problem(await platform.client.get(KEYS), 401)
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    bad = await platform.client.post(
        KEYS, headers=h, json={"name": "old", "roles": ["integration"], "expires_at": past}
    )
    assert problem(bad, 422)["errors"][0]["field"] == "expires_at"
    unknown = await platform.client.post(KEYS, headers=h, json={"name": "q", "roles": ["root"]})
    assert unknown.status_code == 422


async def test_a_key_reaches_a_real_service_as_a_gateway_token(platform: Platform, issuer) -> None:
    h = await admin(platform)
    # a person for the deal: the directory reaches the KPI service as an event
    unit = await platform.client.put(
        "/api/v1/directory/org-units/AK1",
        headers=h,
        json={"org_unit_id": "AK1", "name": "接口测试组", "kind": "team"},
    )
    assert unit.status_code == 200, unit.text
    person = await platform.client.put(
        "/api/v1/directory/employees/AK-E1",
        headers=h,
        json={
            "employee_id": "AK-E1",
            "name": "王芳",
            "org_unit_id": "AK1",
            "job_role": "salesperson",
            "roles": ["salesperson"],
        },
    )
    assert person.status_code == 200, person.text
    revenue = "/api/v1/kpi/people/AK-E1/revenue"
    # the enterprise IdP's tokens work through the gateway and the service, as before
    hr = {"authorization": "Bearer " + issuer.issue("HR1", ["hr_admin"])}

    async def projected() -> Any:  # the directory reaches the KPI service as an event
        return (await platform.client.get(revenue, headers=hr)).status_code == 200

    await eventually(projected, timeout_s=30)
    gm_key = (await new_key(platform, ["executive"]))["api_key"]
    r = await platform.client.get(revenue, headers={"x-api-key": gm_key})
    assert r.status_code == 200, r.text
    assert r.json()["employee_id"] == "AK-E1"
    # the other header form works too
    again = await platform.client.get(revenue, headers={"authorization": f"ApiKey {gm_key}"})
    assert again.status_code == 200, again.text

    key = (await new_key(platform, ["integration"]))["api_key"]
    crm = {"x-api-key": key}
    # the service verifies the gateway's token itself (defence in depth), and never sees
    # the key: it refuses the key sent to it directly
    async with httpx.AsyncClient(base_url=platform.kpi) as direct:
        assert (await direct.get(revenue, headers={"x-api-key": gm_key})).status_code == 401
        resolver = platform.gw.app.api.state.api_keys
        minted = await resolver.token_for(gm_key)
        claims = jwt.decode(minted, options={"verify_signature": False})
        assert claims["iss"] == platform.issuer_url and claims["sub"].startswith("apikey:")
        assert claims["roles"] == ["executive"] and claims["exp"] - claims["iat"] <= 300
        ok = await direct.get(revenue, headers={"authorization": f"Bearer {minted}"})
        assert ok.status_code == 200
        # a token signed with the gateway's key but claiming the IdP's issuer: refused
        forged = TokenIssuer(
            platform.gw.settings.private_key_pem(), issuer=TEST_ISSUER, audience=TEST_AUDIENCE
        ).issue("HR9", ["hr_admin"])
        forged_r = await direct.get(revenue, headers={"authorization": f"Bearer {forged}"})
        assert forged_r.status_code == 401

    # misuse: a person's data out of the key's scope -> 404 from the service (like an
    # unknown id: no enumeration), a role the key lacks -> 403 from the gateway's own
    # hr_admin / it_ops endpoints
    problem(await platform.client.get(revenue, headers=crm), 404)
    ops_key = (await new_key(platform, ["it_ops"]))["api_key"]
    problem(await platform.client.get(revenue, headers={"x-api-key": ops_key}), 404)
    users = await platform.client.post(
        "/api/v1/auth/users",
        headers=crm,
        json={"username": "evil", "password": "evil-password", "roles": ["hr_admin"]},
    )
    problem(users, 403)
    problem(
        await platform.client.post(KEYS, headers=crm, json={"name": "k", "roles": ["integration"]}),
        403,
    )
    # a key holding it_ops may manage keys but never mint new ones (no self-perpetuation)
    problem(
        await platform.client.post(
            KEYS, headers={"x-api-key": ops_key}, json={"name": "k", "roles": ["integration"]}
        ),
        403,
    )

    # refusals are audited with the key as actor (published for the audit service)
    consumer = make_consumer(
        platform.gw.settings, [RequestAudited.topic_name()], f"test-keys-{uuid.uuid4().hex[:8]}"
    )
    await consumer.start()
    try:

        async def denied() -> Any:
            batches = await consumer.getmany(timeout_ms=200)
            return [
                e
                for records in batches.values()
                for e in (json.loads(r.value)["data"] for r in records)
                if e["actor_id"].startswith("apikey:") and e["outcome"] == "denied"
            ]

        assert await eventually(denied)
    finally:
        await consumer.stop()


async def test_unusable_keys_are_401(platform: Platform) -> None:
    h = await admin(platform)
    created = await new_key(platform, ["integration"])
    key, key_id = created["api_key"], created["key_id"]
    url = "/api/v1/directory/org-units"
    assert (await platform.client.get(url, headers={"x-api-key": key})).status_code == 200
    wrong = f"zl_{key_id}_" + "A" * 43
    for bad in ("nonsense", "zl_abc_def", f"zl_{'0' * 16}_whatever", wrong, key + "x"):
        detail = problem(await platform.client.get(url, headers={"x-api-key": bad}), 401)
        assert detail["status"] == 401
    problem(
        await platform.client.get(url, headers={"x-api-key": key, **h}), 401
    )  # both a key and a bearer token: ambiguous

    # expired: refused from its expiry on (checked on every request, cached or not)
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)).replace(microsecond=0)
    short = (await new_key(platform, ["integration"], expires_at=soon.isoformat()))["api_key"]
    first = await platform.client.get(url, headers={"x-api-key": short})
    if dt.datetime.now(dt.UTC) < soon:  # a very busy machine may already be past it
        assert first.status_code == 200, first.text

    async def refused() -> httpx.Response | None:
        r = await platform.client.get(url, headers={"x-api-key": short})
        return r if r.status_code != 200 else None

    expired = await eventually(refused, timeout_s=60, interval_s=0.2)
    assert dt.datetime.now(dt.UTC) >= soon  # not before its time
    assert "expired" in problem(expired, 401)["detail"]

    # revoked through the API: at once on this gateway process
    assert (await platform.client.delete(f"{KEYS}/{key_id}", headers=h)).status_code == 204
    assert (
        "revoked"
        in problem(await platform.client.get(url, headers={"x-api-key": key}), 401)["detail"]
    )

    # revoked through another gateway replica (straight in the people service's database):
    # within the cache TTL
    other = await new_key(platform, ["integration"])
    assert (
        await platform.client.get(url, headers={"x-api-key": other["api_key"]})
    ).status_code == 200
    async with platform.people_sessions() as s:
        await s.execute(
            update(ApiKey)
            .where(ApiKey.key_id == other["key_id"])
            .values(revoked_at=dt.datetime.now(dt.UTC), revoked_by="replica-2")
        )
        await s.commit()

    async def refused_too() -> httpx.Response | None:
        r = await platform.client.get(url, headers={"x-api-key": other["api_key"]})
        return r if r.status_code != 200 else None

    # Within the cache's TTL (0.5 s); the bound is generous, for a busy machine.
    r = await eventually(refused_too, timeout_s=CACHE_TTL + 20, interval_s=0.1)
    assert "revoked" in problem(r, 401)["detail"]

    # last use is recorded (by the people service, on the gateway's look-ups)
    async with platform.people_sessions() as s:
        row = await s.get(ApiKey, other["key_id"])
        assert row.last_used_at is not None


async def test_client_credentials_grant(platform: Platform) -> None:
    h = await admin(platform)
    created = await new_key(platform, ["integration", "finance"])
    key, key_id = created["api_key"], created["key_id"]
    secret = core.parse_key(key)[1]
    body = f"grant_type=client_credentials&client_id={key_id}&client_secret={secret}"
    r = await platform.client.post(TOKEN, content=body, headers=FORM)
    assert r.status_code == 200, r.text
    tok = r.json()
    assert tok["token_type"] == "Bearer" and tok["expires_in"] == 900
    assert r.headers["cache-control"] == "no-store"
    bearer = {"authorization": "Bearer " + tok["access_token"]}
    assert (
        await platform.client.get("/api/v1/directory/org-units", headers=bearer)
    ).status_code == 200
    principal = platform.gw.runtime.verifier.verify(tok["access_token"])
    assert principal.subject == f"apikey:{key_id}" and principal.kind == "service"
    assert principal.roles == {"integration", "finance"}

    # HTTP Basic with the whole key as the secret, and a narrower scope
    basic = base64.b64encode(f"{key_id}:{key}".encode()).decode()
    r = await platform.client.post(
        TOKEN,
        content="grant_type=client_credentials&scope=integration",
        headers={**FORM, "authorization": f"Basic {basic}"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "integration"
    narrow = platform.gw.runtime.verifier.verify(r.json()["access_token"])
    assert narrow.roles == {"integration"}

    async def oauth_error(content: str, headers: dict[str, str], status: int, error: str) -> None:
        resp = await platform.client.post(TOKEN, content=content, headers=headers)
        assert resp.status_code == status, resp.text
        assert resp.json()["error"] == error, resp.text
        if status == 401:
            assert resp.headers["www-authenticate"].startswith("Basic")

    await oauth_error(
        f"grant_type=client_credentials&client_id={key_id}&client_secret=wrong",
        FORM,
        401,
        "invalid_client",
    )
    await oauth_error("grant_type=client_credentials", FORM, 401, "invalid_client")
    await oauth_error(
        f"grant_type=client_credentials&client_id=0000000000000000&client_secret={secret}",
        FORM,
        401,
        "invalid_client",
    )
    await oauth_error(
        f"grant_type=password&client_id={key_id}&client_secret={secret}",
        FORM,
        400,
        "unsupported_grant_type",
    )
    await oauth_error(f"client_id={key_id}&client_secret={secret}", FORM, 400, "invalid_request")
    await oauth_error(
        json.dumps({"grant_type": "client_credentials"}),
        {"content-type": "application/json"},
        400,
        "invalid_request",
    )
    await oauth_error(
        f"grant_type=client_credentials&scope=hr_admin&client_id={key_id}&client_secret={secret}",
        FORM,
        400,
        "invalid_scope",
    )
    await oauth_error(
        f"grant_type=client_credentials&client_id={key_id}&client_secret={secret}",
        {**FORM, "authorization": f"Basic {basic}"},
        400,
        "invalid_request",
    )  # two authentication methods at once

    # issued and refused grants are audited, never with the secret
    outbox = platform.gw.runtime.tables.outbox
    async with platform.gw.runtime.sessions() as s:
        payloads = (
            (await s.execute(select(outbox.c.payload).where(outbox.c.key == f"api_key:{key_id}")))
            .scalars()
            .all()
        )
    actions = [json.loads(p)["data"]["action"] for p in payloads]
    assert "auth.client_credentials.issued" in actions, actions
    assert "auth.client_credentials.failed" in actions, actions
    assert not any(secret in p for p in payloads)

    # revoking the key stops the tokens already issued for it, at the gateway
    assert (await platform.client.delete(f"{KEYS}/{key_id}", headers=h)).status_code == 204
    refused = await platform.client.get("/api/v1/directory/org-units", headers=bearer)
    assert "revoked" in problem(refused, 401)["detail"]
    await oauth_error(body, FORM, 401, "invalid_client")


async def test_the_rate_limiter_classes_verified_keys(platform: Platform) -> None:
    created = await new_key(platform, ["integration"])
    key = created["api_key"]
    edge = platform.gw.app
    for _ in range(2):
        r = await platform.client.get("/api/v1/directory/org-units", headers={"x-api-key": key})
        assert r.status_code == 200 and r.headers["ratelimit-limit"]
    # verified: the integration limits, in one bucket with the tokens issued for the key
    assert f"apikey:{created['key_id']}" in edge.integration._buckets
    digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
    assert digest in edge.api_keys._buckets  # the first request, before verification
    junk = b"zl_0123456789abcdef_nope"
    await platform.client.get("/api/v1/directory/org-units", headers={"x-api-key": junk.decode()})
    assert hashlib.blake2b(junk, digest_size=16).digest() in edge.api_keys._buckets
    assert not any(key.encode() in k for k in edge.integration._buckets if isinstance(k, bytes))


async def test_the_gateway_publishes_its_discovery_document(platform: Platform) -> None:
    doc = (await platform.client.get("/.well-known/openid-configuration")).json()
    assert doc["issuer"] == platform.issuer_url
    assert doc["jwks_uri"] == platform.issuer_url + "/.well-known/jwks.json"
    assert doc["token_endpoint"].endswith(TOKEN)
    assert doc["grant_types_supported"] == ["client_credentials"]
    jwks = (await platform.client.get("/.well-known/jwks.json")).json()
    assert [k["kid"] for k in jwks["keys"]] == [platform.gw.settings.auth_key_id]
