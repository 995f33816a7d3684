"""Sign-in of the built-in issuer and its users. The JWKS and the discovery document are the
gateway's (it holds the same key and serves them at the edge)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from zhanli_people.identity import service
from zhanli_people.identity.schemas import TokenRequest, TokenResponse, UserCreate, UserRead
from zhanli_people.identity.service import IT_OPS_GRANTABLE
from zhanli_shared.audit import client_ip
from zhanli_shared.auth import Principal, Role, TokenIssuer, require_roles
from zhanli_shared.errors import Forbidden, NotFound
from zhanli_shared.runtime import PublisherDep, SessionDep

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
    # Least privilege (otherwise it_ops could make itself hr_admin).
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
