"""Rotating the token signing key without downtime: during the overlap the gateway's JWKS
publishes the new key and the old one, so tokens signed before the switch keep working
until they expire, while new tokens are signed with the new key; a verifier that reads the
JWKS picks the new key up by itself (an unknown kid makes it fetch again), with tokens
being verified all the while."""

from __future__ import annotations

import http.server
import json
import threading
import time
from typing import Any

import httpx
import jwt
import pytest
from jwt.algorithms import RSAAlgorithm
from pydantic import SecretStr

from zhanli_gateway.main import create_app
from zhanli_gateway.settings import GatewaySettings
from zhanli_shared.auth import TokenIssuer, TokenVerifier, generate_rsa_keypair
from zhanli_shared.errors import Unauthorized
from zhanli_shared.testing.plugin import TEST_AUDIENCE, TEST_ISSUER


def jwk(public_pem: str, kid: str) -> dict[str, Any]:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    doc: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(load_pem_public_key(public_pem.encode())))
    return {**doc, "kid": kid, "use": "sig", "alg": "RS256"}


def signer(private_pem: str, kid: str) -> TokenIssuer:
    return TokenIssuer(private_pem, issuer=TEST_ISSUER, audience=TEST_AUDIENCE, key_id=kid)


async def test_the_gateway_publishes_and_trusts_the_old_key_during_the_overlap(
    tmp_path,
) -> None:
    old_private, old_public = generate_rsa_keypair()
    new_private, new_public = generate_rsa_keypair()
    _, stranger_public = generate_rsa_keypair()
    old_file = tmp_path / "jwt-public-1.pem"
    old_file.write_text(old_public)
    settings = GatewaySettings(
        auth_issuer=TEST_ISSUER,
        auth_audience=TEST_AUDIENCE,
        auth_private_key=SecretStr(new_private),
        auth_key_id="zhanli-local-2",
        auth_previous_keys={"zhanli-local-1": str(old_file)},
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}",
    )
    app = create_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gw"
    ) as client:
        keys = (await client.get("/.well-known/jwks.json")).json()["keys"]
    assert [k["kid"] for k in keys] == ["zhanli-local-2", "zhanli-local-1"]
    assert keys[1]["n"] == jwk(old_public, "x")["n"] and keys[0]["n"] == jwk(new_public, "x")["n"]
    # What the gateway (its proxy, its own routes) verifies with after create_app.
    verifier = TokenVerifier.from_settings(settings)
    before = signer(old_private, "zhanli-local-1").issue("E1", ["salesperson"])
    after = signer(new_private, "zhanli-local-2").issue("E1", ["salesperson"])
    unkeyed = TokenIssuer(new_private, issuer=TEST_ISSUER, audience=TEST_AUDIENCE).issue("E2", [])
    assert verifier.verify(before).subject == "E1"
    assert verifier.verify(after).subject == "E1"
    assert verifier.verify(unkeyed).subject == "E2"
    with pytest.raises(Unauthorized):
        verifier.verify(
            TokenIssuer(
                generate_rsa_keypair()[0], issuer=TEST_ISSUER, audience=TEST_AUDIENCE
            ).issue("E3", [])
        )
    assert stranger_public not in (settings.auth_public_key or "")


class Jwks:
    """A JWKS served over real HTTP (a thread: PyJWKClient fetches synchronously)."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps({"keys": list(owner.keys)}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_rotating_while_tokens_flow_refuses_none() -> None:
    """Two threads sign and verify tokens without pause (each token verified by a fresh
    verifier too, as a just-started replica would) while the key is rotated: publish the
    new key next to the old one, switch the signer, retire the old key. Not one valid
    token is refused."""
    old_private, old_public = generate_rsa_keypair()
    new_private, new_public = generate_rsa_keypair()
    jwks = Jwks()
    jwks.keys = [jwk(old_public, "k1")]
    current = {"signer": signer(old_private, "k1")}
    shared = TokenVerifier(
        issuer=TEST_ISSUER,
        audience=TEST_AUDIENCE,
        algorithms=["RS256"],
        jwks_url=jwks.url,
        jwks_cache_s=0.5,  # auth_jwks_cache_s (300 s by default)
    )
    client = shared.issuers[TEST_ISSUER].jwks
    assert client is not None
    failures: list[str] = []
    counts = {"k1": 0, "k2": 0}
    stop = threading.Event()

    def flow() -> None:
        while not stop.is_set():
            issuing = current["signer"]
            token = issuing.issue("E1", ["salesperson"])
            try:
                assert shared.verify(token).subject == "E1"
                counts[issuing.kid or "?"] += 1
            except Exception as exc:
                failures.append(f"{issuing.kid}: {exc!r}")

    threads = [threading.Thread(target=flow) for _ in range(2)]
    for t in threads:
        t.start()
    try:

        def wait_for(kid: str, more: int) -> None:
            goal = counts[kid] + more
            deadline = time.monotonic() + 100
            while counts[kid] < goal:
                assert time.monotonic() < deadline, (counts, failures[:3])
                time.sleep(0.05)

        wait_for("k1", 10)
        jwks.keys = [jwk(new_public, "k2"), jwk(old_public, "k1")]  # 1. publish the new key
        wait_for("k1", 10)
        # ... and wait until the verifiers have read it (auth_jwks_cache_s): signing with a
        # kid a verifier has not seen relies on PyJWT's refetch, which it allows only every
        # 30 s (cooldown_duration) after any fetch: tokens would be refused meanwhile.
        deadline = time.monotonic() + 100
        while "k2" not in {k.key_id for k in client.get_signing_keys()}:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        current["signer"] = signer(new_private, "k2")  # 2. sign with it
        wait_for("k2", 10)
        jwks.keys = [jwk(new_public, "k2")]  # 3. retire the old one (its tokens expired)
        wait_for("k2", 10)
        fresh = TokenVerifier(  # a replica started after the rotation
            issuer=TEST_ISSUER, audience=TEST_AUDIENCE, algorithms=["RS256"], jwks_url=jwks.url
        )
        assert fresh.verify(current["signer"].issue("E9", [])).subject == "E9"
        with pytest.raises(Unauthorized):  # the retired key is no longer published
            fresh.verify(signer(old_private, "k1").issue("E9", []))
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        jwks.close()
    assert failures == []
    assert counts["k1"] >= 20 and counts["k2"] >= 20


def test_a_pem_bundle_verifies_with_either_key() -> None:
    """The embedded mode's services trust a PEM file: during the overlap it holds both
    public keys (the new one first)."""
    old_private, old_public = generate_rsa_keypair()
    new_private, new_public = generate_rsa_keypair()
    verifier = TokenVerifier(
        issuer=TEST_ISSUER,
        audience=TEST_AUDIENCE,
        algorithms=["RS256"],
        public_key=new_public + old_public,
    )
    for private, kid in ((old_private, "k1"), (new_private, "k2")):
        token = signer(private, kid).issue("E1", ["salesperson"])
        assert verifier.verify(token).subject == "E1"
    expired = jwt.encode(
        {"iss": TEST_ISSUER, "aud": TEST_AUDIENCE, "sub": "E1", "iat": 1, "exp": 2},
        old_private,
        algorithm="RS256",
    )
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(expired)
