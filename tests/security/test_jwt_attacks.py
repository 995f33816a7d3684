"""Forged and stale tokens are refused at the gateway (401 problem+json), both on a proxied
path (the gateway's proxy verifies before forwarding) and on a gateway-local one (FastAPI's
dependency). Every forged token claims the bootstrap administrator's roles, so acceptance
would show as a 2xx."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import uuid
from typing import Any

import httpx
import jwt
import pytest
from zl_seckit import TEAM_MEMBER, World

from zhanli_shared.auth import generate_rsa_keypair

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("security")]

PATHS = {
    "proxied": f"/api/v1/commission/people/{TEAM_MEMBER}/statement",
    "gateway": "/api/v1/audit/verify",
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(**override: Any) -> dict[str, Any]:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    claims = {
        "iss": "zhanli-local",
        "aud": "zhanli",
        "sub": "admin",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "roles": ["hr_admin", "it_ops"],
        "org_units": [],
        "kind": "user",
    }
    claims.update(override)
    return claims


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())


def forge(world: World, attack: str) -> str:
    keys = world.platform.var / "keys"  # type: ignore[attr-defined]
    private = (keys / "jwt-private.pem").read_text()
    public = (keys / "jwt-public.pem").read_text()
    kid = {"kid": "zhanli-local-1"}
    if attack == "valid":  # the control: the same claims, properly signed
        return jwt.encode(_claims(), private, algorithm="RS256", headers=kid)
    if attack == "alg_none":
        return _unsigned({"alg": "none", "typ": "JWT"}, _claims()) + "."
    if attack == "hs256_public_key":  # the classic key-confusion attack
        signing_input = _unsigned({"alg": "HS256", "typ": "JWT", **kid}, _claims())
        mac = hmac.new(public.encode(), signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + _b64(mac)
    if attack == "expired":
        past = int(dt.datetime.now(dt.UTC).timestamp()) - 3600
        claims = _claims(iat=past - 600, nbf=past - 600, exp=past)
        return jwt.encode(claims, private, algorithm="RS256", headers=kid)
    if attack == "wrong_audience":
        return jwt.encode(_claims(aud="someone-else"), private, algorithm="RS256", headers=kid)
    if attack == "wrong_issuer":
        return jwt.encode(_claims(iss="https://evil.example"), private, algorithm="RS256")
    if attack == "foreign_key":
        other, _ = generate_rsa_keypair()
        return jwt.encode(_claims(), other, algorithm="RS256", headers=kid)
    raise AssertionError(attack)


ATTACKS = [
    "alg_none",
    "hs256_public_key",
    "expired",
    "wrong_audience",
    "wrong_issuer",
    "foreign_key",
]


@pytest.mark.parametrize("where", sorted(PATHS))
def test_control_token_is_accepted(world: World, where: str) -> None:
    r = httpx.get(
        world.base + PATHS[where],
        headers={"authorization": "Bearer " + forge(world, "valid")},
        timeout=10,
    )
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("where", sorted(PATHS))
@pytest.mark.parametrize("attack", ATTACKS)
def test_forged_token_is_refused(world: World, attack: str, where: str) -> None:
    r = httpx.get(
        world.base + PATHS[where],
        headers={"authorization": "Bearer " + forge(world, attack)},
        timeout=10,
    )
    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == "application/problem+json"
