"""Trusting several issuers: the enterprise IdP found by OIDC discovery, the gateway's own
issuer by its own key; and an API-key store that cannot answer is a 503, not a crash."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jwt.algorithms import RSAAlgorithm
from pydantic import SecretStr

from zhanli_gateway.main import create_app
from zhanli_gateway.settings import GatewaySettings
from zhanli_shared.auth import TokenIssuer, TokenVerifier, generate_rsa_keypair
from zhanli_shared.errors import Unauthorized
from zhanli_shared.settings import ServiceSettings, TrustedIssuer
from zhanli_shared.testing.broker import free_port
from zhanli_shared.testing.plugin import TEST_AUDIENCE, TEST_ISSUER

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

    async def lookup(key_id: str) -> Any:
        raise OSError("the people service is down")

    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])
        await PlainTextResponse("ok")(scope, receive, send)

    mw = ApiKeyMiddleware(app, ApiKeyResolver(lookup, lambda: None), verifier=None)
    transport = httpx.ASGITransport(app=mw)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        down = await c.get("/x", headers={"x-api-key": "zl_0123456789abcdef_secret"})
        assert down.status_code == 503 and down.headers["retry-after"]
        assert down.headers["content-type"] == "application/problem+json"
        bad = await c.get("/x", headers={"x-api-key": "not-a-key"})
        assert bad.status_code == 401  # malformed: refused before any I/O
        assert (await c.get("/x")).status_code == 200  # no key: untouched
    assert reached == ["/x"]
