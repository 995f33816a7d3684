"""Login for the built-in issuer, user management, and the JWKS that services verify with."""

from __future__ import annotations

import json
from typing import Annotated, Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import APIRouter, Depends, Request, status
from jwt.algorithms import RSAAlgorithm

from zhanli_gateway.identity import service
from zhanli_gateway.identity.schemas import TokenRequest, TokenResponse, UserCreate, UserRead
from zhanli_shared.audit import client_ip
from zhanli_shared.auth import Principal, Role, TokenIssuer, require_roles
from zhanli_shared.errors import Forbidden, NotFound
from zhanli_shared.runtime import PublisherDep, SessionDep

IT_OPS_GRANTABLE = frozenset({Role.INTEGRATION.value, Role.IT_OPS.value})

router = APIRouter(tags=["identity"])


def _issuer(request: Request) -> TokenIssuer:
    issuer: TokenIssuer | None = request.app.state.issuer
    if issuer is None:
        raise NotFound("The built-in issuer is off: sign in through the enterprise IdP.")
    return issuer


@router.post("/api/v1/auth/token", response_model=TokenResponse)
async def issue_token(body: TokenRequest, request: Request, session: SessionDep) -> TokenResponse:
    issuer = _issuer(request)
    token = await service.login(session, issuer, body.username, body.password)
    return TokenResponse(access_token=token, expires_in=issuer.ttl)


@router.post(
    "/api/v1/auth/users",
    status_code=status.HTTP_201_CREATED,
    response_model=UserRead,
)
async def create_user(
    body: UserCreate,
    request: Request,
    session: SessionDep,
    publisher: PublisherDep,
    principal: Annotated[Principal, Depends(require_roles(Role.HR_ADMIN, Role.IT_OPS))],
) -> UserRead:
    _issuer(request)
    # Least privilege: IT operations set up technical accounts; only HR grants people roles
    # (otherwise it_ops could make itself hr_admin).
    granted = {r.value for r in body.roles}
    if not principal.has_any({Role.HR_ADMIN}) and not granted <= IT_OPS_GRANTABLE:
        raise Forbidden(
            "Only hr_admin may grant these roles: " + ", ".join(sorted(granted - IT_OPS_GRANTABLE)),
            field="roles",
        )
    user = await service.create_user(
        session, body, publisher=publisher, actor=principal, source_ip=client_ip(request)
    )
    return UserRead.model_validate(user)


@router.get("/.well-known/jwks.json", include_in_schema=False)
async def jwks(request: Request) -> dict[str, Any]:
    public_pem: str | None = request.app.state.public_key_pem
    if not public_pem:
        return {"keys": []}
    key = load_pem_public_key(public_pem.encode())
    if not isinstance(key, RSAPublicKey):
        raise TypeError("the gateway signs with RS256: its public key must be RSA")
    jwk = json.loads(RSAAlgorithm.to_jwk(key))
    jwk.update({"kid": request.app.state.key_id, "use": "sig", "alg": "RS256"})
    return {"keys": [jwk]}


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
