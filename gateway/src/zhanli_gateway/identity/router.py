"""Login for the built-in issuer, user management, and the JWKS that services verify with."""

from __future__ import annotations

import json
from typing import Annotated, Any

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
    jwk = json.loads(RSAAlgorithm.to_jwk(load_pem_public_key(public_pem.encode())))
    jwk.update({"kid": request.app.state.key_id, "use": "sig", "alg": "RS256"})
    return {"keys": [jwk]}
