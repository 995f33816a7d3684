"""The built-in issuer's public side at the edge: its JWKS (what services and integrations
verify the platform's tokens with) and its OIDC discovery document. The people service signs
sign-in tokens and the gateway signs API-key and client-credential tokens with the same key."""

from __future__ import annotations

import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import APIRouter, Request
from jwt.algorithms import RSAAlgorithm

from zhanli_shared.auth import Role, split_pem

router = APIRouter(tags=["identity"])


def _jwk(public_pem: str, kid: str) -> dict[str, Any]:
    key = load_pem_public_key(public_pem.encode())
    if not isinstance(key, RSAPublicKey):
        raise TypeError("the gateway signs with RS256: its public key must be RSA")
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(key))
    jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
    return jwk


@router.get("/.well-known/jwks.json", include_in_schema=False)
async def jwks(request: Request) -> dict[str, Any]:
    """The signing key, then the keys rotated out that still verify (a rotation's overlap:
    tokens they signed stay valid until they expire)."""
    public_pem: str | None = request.app.state.public_key_pem
    if not public_pem:
        return {"keys": []}
    current = split_pem(public_pem)[0]
    keys = [_jwk(current, request.app.state.key_id)]
    previous: dict[str, str] = getattr(request.app.state, "previous_keys", {})
    keys += [_jwk(pem, kid) for kid, pem in previous.items() if kid != request.app.state.key_id]
    return {"keys": keys}


@router.get("/.well-known/openid-configuration", include_in_schema=False)
async def openid_configuration(request: Request) -> dict[str, Any]:
    """OIDC discovery of the built-in issuer (its JWKS and the client-credentials token
    endpoint), so services and integrations can trust it by its issuer URL."""
    issuer: str = request.app.state.local_issuer
    base = (
        issuer.rstrip("/")
        if issuer.startswith(("https://", "http://"))
        else str(request.base_url).rstrip("/")
    )
    return {
        "issuer": issuer,
        "jwks_uri": base + "/.well-known/jwks.json",
        "token_endpoint": base + "/api/v1/auth/oauth/token",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": [r.value for r in Role],
    }
