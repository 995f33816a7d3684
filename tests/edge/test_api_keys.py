"""Machine identities: API keys and the OAuth2 client-credentials grant.

The gateway runs next to an "enterprise IdP" (the test issuer, ``zhanli-test``) and signs
machine tokens with its own key as issuer ``http://127.0.0.1:<port>``; a real KPI
service (uvicorn on a real port) trusts the IdP by public key and the gateway by OIDC
discovery, served by a tiny real HTTP server holding the gateway's own discovery document
and JWKS (what the gateway publishes, byte for byte).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import hashlib
import http.server
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from jwt.algorithms import RSAAlgorithm
from pydantic import SecretStr
from sqlalchemy import select, update

import zhanli_gateway
import zhanli_kpi
from zhanli_gateway.apikeys import core
from zhanli_gateway.apikeys.models import ApiKey
from zhanli_gateway.main import create_app
from zhanli_gateway.settings import GatewaySettings
from zhanli_kpi.main import create_app as create_kpi
from zhanli_kpi.settings import KpiSettings
from zhanli_shared.auth import TokenIssuer, TokenVerifier, generate_rsa_keypair
from zhanli_shared.errors import Unauthorized
from zhanli_shared.events.contracts.gateway import RequestAudited
from zhanli_shared.events.kafka import make_consumer
from zhanli_shared.migrations import upgrade
from zhanli_shared.settings import ServiceSettings, TrustedIssuer
from zhanli_shared.testing.broker import free_port
from zhanli_shared.testing.plugin import TEST_AUDIENCE, TEST_ISSUER, DatabaseTarget, eventually
from zhanli_shared.testing.services import RunningService, running_service, service_settings

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

    @property
    def client(self) -> httpx.AsyncClient:
        return self.gw.client


@contextlib.asynccontextmanager
async def serve(app: Any, port: int) -> AsyncIterator[None]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        await task


@pytest.fixture(scope="module")
async def platform(
    db_backend: str, broker, keypair, issuer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Platform]:
    from zhanli_shared.events.kafka import dead_letter_topic, ensure_topics
    from zhanli_shared.topics import platform_topics

    tmp = tmp_path_factory.mktemp("apikeys")
    gw_target = DatabaseTarget(db_backend, tmp, "gateway")
    cm_target = DatabaseTarget(db_backend, tmp, "kpi")
    gw_private, _ = generate_rsa_keypair()  # the gateway's own signing key (not the IdP's)
    kpi_port = free_port()
    mirror_port = free_port()
    issuer_url = f"http://127.0.0.1:{mirror_port}"
    settings = service_settings(
        GatewaySettings,
        gw_target,
        broker,
        keypair[1],  # the IdP's public key
        auth_private_key=SecretStr(gw_private),
        local_issuer=issuer_url,
        bootstrap_admin_password=SecretStr(ADMIN_PASSWORD),
        upstreams={"kpi": f"http://127.0.0.1:{kpi_port}"},
        api_key_cache_ttl_s=CACHE_TTL,
        rate_limit_login_burst=500,  # this module signs in often (and the token endpoint counts)
    )
    async with running_service(
        create_app, settings, Path(zhanli_gateway.__file__).parent / "migrations", issuer
    ) as gw:
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
            async with serve(create_kpi(cm_settings), kpi_port):
                assert "/.well-known/openid-configuration" in mirror.hits  # fetched at start
                yield Platform(gw, issuer_url, f"http://127.0.0.1:{kpi_port}")
    await gw_target.cleanup()
    await cm_target.cleanup()


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

    # stored only as a hash
    async with platform.gw.runtime.sessions() as s:
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

    # audited: created and revoked (once), in the outbox (the audit service chains them)
    outbox = platform.gw.runtime.tables.outbox
    async with platform.gw.runtime.sessions() as s:
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

    # misuse: a role the key lacks -> 403 from the service, and from the gateway's own
    # hr_admin / it_ops endpoints
    problem(await platform.client.get(revenue, headers=crm), 403)
    ops_key = (await new_key(platform, ["it_ops"]))["api_key"]
    problem(await platform.client.get(revenue, headers={"x-api-key": ops_key}), 403)
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

    # revoked by another gateway replica (straight in the database): within the cache TTL
    other = await new_key(platform, ["integration"])
    assert (
        await platform.client.get(url, headers={"x-api-key": other["api_key"]})
    ).status_code == 200
    async with platform.gw.runtime.sessions() as s:
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

    # last use is recorded
    async with platform.gw.runtime.sessions() as s:
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


# --- TokenVerifier: several issuers, OIDC discovery (no gateway needed) ---------------------


@pytest.fixture
def idp() -> Iterator[tuple[StaticServer, str]]:
    private, public = generate_rsa_keypair()
    with StaticServer() as server:
        server.docs["/.well-known/openid-configuration"] = {
            "issuer": server.url,
            "jwks_uri": server.url + "/keys",
        }
        server.docs["/keys"] = {"keys": [jwk_of(public, "idp-1")]}
        yield server, private


def test_discovery_finds_the_jwks_and_trusts_several_issuers(idp) -> None:
    server, idp_private = idp
    gw_private, gw_public = generate_rsa_keypair()
    settings = ServiceSettings(
        auth_issuer=server.url,
        auth_discovery=True,
        auth_audience="zhanli",
        auth_extra_issuers=[TrustedIssuer(issuer="zhanli-gateway", public_key=gw_public)],
    )
    assert settings.auth_configured()
    verifier = TokenVerifier.from_settings(settings)
    assert server.hits.count("/.well-known/openid-configuration") <= 1  # once per process
    from_idp = TokenIssuer(idp_private, issuer=server.url, audience="zhanli", key_id="idp-1")
    from_gw = TokenIssuer(gw_private, issuer="zhanli-gateway", audience="zhanli")
    assert verifier.verify(from_idp.issue("E1", ["salesperson"])).subject == "E1"
    assert verifier.verify(from_gw.issue("apikey:1", ["integration"])).roles == {"integration"}
    assert "/keys" in server.hits
    # each issuer only with its own keys, unknown issuers not at all
    forged_idp = TokenIssuer(gw_private, issuer=server.url, audience="zhanli", key_id="idp-1")
    forged_gw = TokenIssuer(idp_private, issuer="zhanli-gateway", audience="zhanli")
    stranger = TokenIssuer(gw_private, issuer="https://evil.example", audience="zhanli")
    for token in (
        forged_idp.issue("E1", ["hr_admin"]),
        forged_gw.issue("E1", ["hr_admin"]),
        stranger.issue("E1", ["hr_admin"]),
    ):
        with pytest.raises(Unauthorized):
            verifier.verify(token)

    # key rotation at the IdP: a new kid is fetched from the JWKS without a restart (PyJWT
    # refetches on an unknown kid at most once per cooldown: shortened here)
    jwks_client = verifier.issuers[server.url].jwks
    assert jwks_client is not None
    jwks_client.cooldown_duration = 0
    new_private, new_public = generate_rsa_keypair()
    server.docs["/keys"] = {"keys": [jwk_of(new_public, "idp-2")]}
    rotated = TokenIssuer(new_private, issuer=server.url, audience="zhanli", key_id="idp-2")
    assert verifier.verify(rotated.issue("E2", ["finance"])).subject == "E2"


def test_one_issuer_behaves_as_before(keypair, issuer) -> None:
    verifier = TokenVerifier(
        issuer=TEST_ISSUER, audience=TEST_AUDIENCE, algorithms=["RS256"], public_key=keypair[1]
    )
    assert list(verifier.issuers) == [TEST_ISSUER]
    assert verifier.verify(issuer.issue("E1", ["salesperson"])).subject == "E1"
    other = TokenIssuer(keypair[0], issuer="someone-else", audience=TEST_AUDIENCE)
    with pytest.raises(Unauthorized):
        verifier.verify(other.issue("E1", ["salesperson"]))
    with pytest.raises(ValueError):
        TokenVerifier(issuer="x", audience="y", algorithms=["RS256"])
    with pytest.raises(ValueError, match="http"):  # discovery needs an issuer URL
        TokenVerifier(issuer="zhanli-local", audience="y", algorithms=["RS256"], discovery=True)


def test_discovery_refuses_a_document_of_another_issuer() -> None:
    from zhanli_shared.auth import discover

    with StaticServer() as server:
        server.docs["/.well-known/openid-configuration"] = {
            "issuer": "https://idp.example",
            "jwks_uri": server.url + "/keys",
        }
        with pytest.raises(ValueError, match="another issuer"):
            discover(server.url)
        # the verifier starts anyway (the IdP may come back) and refuses tokens meanwhile
        verifier = TokenVerifier(
            issuer=server.url, audience="zhanli", algorithms=["RS256"], discovery=True
        )
        private, _ = generate_rsa_keypair()
        token = TokenIssuer(private, issuer=server.url, audience="zhanli").issue("E1", [])
        with pytest.raises(Unauthorized):
            verifier.verify(token)


def test_the_gateway_trusts_its_own_issuer_by_its_own_key(keypair, tmp_path: Path) -> None:
    """Next to an IdP the gateway verifies its own tokens with its own key, even when the
    platform-wide extra issuers (meant for the services) point at its JWKS URL."""
    private, _ = generate_rsa_keypair()
    settings = GatewaySettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'g.db'}",
        auth_issuer="https://idp.example",
        auth_public_key=keypair[1],
        auth_private_key=SecretStr(private),
        local_issuer="zhanli-gateway",
        auth_extra_issuers=[
            TrustedIssuer(issuer="zhanli-gateway", jwks_url=f"http://127.0.0.1:{free_port()}/")
        ],
    )
    verifier = create_app(settings).verifier
    assert set(verifier.issuers) == {"https://idp.example", "zhanli-gateway"}
    assert verifier.issuers["zhanli-gateway"].jwks is None
    own = TokenIssuer(private, issuer="zhanli-gateway", audience="zhanli")
    assert verifier.verify(own.issue("apikey:1", ["integration"])).subject == "apikey:1"
    idp = TokenIssuer(keypair[0], issuer="https://idp.example", audience="zhanli")
    assert verifier.verify(idp.issue("E1", ["salesperson"])).subject == "E1"
    with pytest.raises(Unauthorized):  # the gateway's key does not speak for the IdP
        verifier.verify(
            TokenIssuer(private, issuer="https://idp.example", audience="zhanli").issue("E1", [])
        )


async def test_an_unreachable_key_store_is_a_503_not_a_crash() -> None:
    from starlette.responses import PlainTextResponse

    from zhanli_gateway.apikeys.resolver import ApiKeyMiddleware, ApiKeyResolver

    def sessions() -> Any:
        raise OSError("database down")

    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])
        await PlainTextResponse("ok")(scope, receive, send)

    mw = ApiKeyMiddleware(app, ApiKeyResolver(sessions, lambda: None), verifier=None)
    transport = httpx.ASGITransport(app=mw)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        down = await c.get("/x", headers={"x-api-key": "zl_0123456789abcdef_secret"})
        assert down.status_code == 503 and down.headers["retry-after"]
        assert down.headers["content-type"] == "application/problem+json"
        bad = await c.get("/x", headers={"x-api-key": "not-a-key"})
        assert bad.status_code == 401  # malformed: refused before any I/O
        assert (await c.get("/x")).status_code == 200  # no key: untouched
    assert reached == ["/x"]
