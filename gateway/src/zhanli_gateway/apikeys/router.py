"""The OAuth2 client-credentials grant (RFC 6749 4.4) for API keys: the key (stored by the
people service, cached here) is exchanged for a short-lived token of the gateway's issuer."""

from __future__ import annotations

import base64
import binascii
from typing import Any, cast
from urllib.parse import parse_qs, unquote_plus

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from zhanli_gateway.apikeys.resolver import ApiKeyResolver
from zhanli_gateway.apikeys.schemas import ClientCredentialsToken
from zhanli_gateway.settings import GatewaySettings
from zhanli_shared import apikeys as core
from zhanli_shared import audit
from zhanli_shared.apikeys import API_KEY_SUBJECT
from zhanli_shared.audit import client_ip
from zhanli_shared.auth import Principal
from zhanli_shared.errors import NotFound, ProblemError
from zhanli_shared.runtime import PublisherDep, RuntimeDep, SessionDep

TOKEN_PATH = "/api/v1/auth/oauth/token"
MAX_FORM_BYTES = 8 * 1024

router = APIRouter(tags=["identity"])


def _resolver(request: Request) -> ApiKeyResolver:
    resolver: ApiKeyResolver | None = getattr(request.app.state, "api_keys", None)
    if resolver is None or request.app.state.issuer is None:
        raise NotFound("API keys need the gateway's built-in issuer (its signing key).")
    return resolver


# --- OAuth2 client credentials ---------------------------------------------------------


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status_code: int = 400) -> None:
        self.error, self.description, self.status_code = error, description, status_code


def _oauth_error(exc: OAuthError) -> JSONResponse:
    headers = {"cache-control": "no-store", "pragma": "no-cache"}
    if exc.status_code == 401:
        headers["www-authenticate"] = 'Basic realm="zhanli"'
    return JSONResponse(
        {"error": exc.error, "error_description": exc.description},
        status_code=exc.status_code,
        headers=headers,
    )


def _form(content_type: str, body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (parsed here: no multipart package)."""
    if content_type.split(";", 1)[0].strip().lower() != "application/x-www-form-urlencoded":
        raise OAuthError(
            "invalid_request", "Send the parameters as application/x-www-form-urlencoded."
        )
    if len(body) > MAX_FORM_BYTES:
        raise OAuthError("invalid_request", "The request body is too large.")
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise OAuthError("invalid_request", "The form body cannot be parsed.") from exc
    repeated = sorted(k for k, v in parsed.items() if len(v) > 1)
    if repeated:  # RFC 6749 3.2: parameters must not be included more than once
        raise OAuthError("invalid_request", f"Parameter {repeated[0]!r} is repeated.")
    return {k: v[0] for k, v in parsed.items()}


def _basic(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise OAuthError("invalid_client", "Malformed Basic credentials.", 401) from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError("invalid_client", "Malformed Basic credentials.", 401)
    # RFC 6749 2.3.1: both parts are form-urlencoded before Basic encoding
    return unquote_plus(client_id), unquote_plus(secret)


@router.post(
    TOKEN_PATH,
    response_model=ClientCredentialsToken,
    responses={
        400: {"description": "RFC 6749 error (application/json: error, error_description)"},
        401: {"description": "invalid_client (application/json)"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type"],
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["client_credentials"]},
                            "client_id": {"type": "string"},
                            "client_secret": {"type": "string"},
                            "scope": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
async def oauth_token(
    request: Request, session: SessionDep, publisher: PublisherDep, runtime: RuntimeDep
) -> Any:
    """OAuth2 client credentials: ``grant_type=client_credentials`` with the API key's id as
    ``client_id`` and the key (or only its secret part) as ``client_secret``, by HTTP Basic
    or in the form. Optional ``scope``: space-separated roles, a subset of the key's."""
    resolver = _resolver(request)
    settings = cast(GatewaySettings, runtime.settings)
    client_id = ""
    try:
        form = _form(request.headers.get("content-type", ""), await request.body())
        basic = _basic(request.headers.get("authorization", ""))
        in_form = "client_id" in form or "client_secret" in form
        if basic and in_form:
            raise OAuthError("invalid_request", "Use one client authentication method only.")
        grant = form.get("grant_type")
        if not grant:
            raise OAuthError("invalid_request", "grant_type is required.")
        if grant != "client_credentials":
            raise OAuthError(
                "unsupported_grant_type", "Only grant_type=client_credentials is supported."
            )
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        if not client_id or not secret:
            raise OAuthError("invalid_client", "Client authentication is required.", 401)
        full = core.parse_key(secret)
        if full is not None:  # the whole key: its id must be the client_id
            if full[0] != client_id:
                raise OAuthError("invalid_client", "Unknown client or wrong secret.", 401)
            secret = full[1]
        try:
            state = await resolver.authenticate_pair(client_id, secret)
        except ProblemError as exc:
            raise OAuthError("invalid_client", exc.detail, 401) from exc
        roles = state.roles
        if form.get("scope"):
            asked = frozenset(form["scope"].split())
            if not asked <= state.roles:
                raise OAuthError(
                    "invalid_scope", "The scope asks for roles this client does not have."
                )
            roles = asked
    except OAuthError as exc:
        if exc.error == "invalid_client" and core.KEY_ID.match(client_id):
            # like a failed login: who tried which client, from where (never the secret)
            await audit.record(
                session,
                publisher,
                actor="anonymous",
                action="auth.client_credentials.failed",
                entity_type="api_key",
                entity_id=client_id,
                before=None,
                after={"outcome": "failure", "reason": exc.description[:200]},
                source_ip=client_ip(request),
            )
        return _oauth_error(exc)
    token, ttl = resolver.mint(state, roles=roles, ttl_s=settings.client_credentials_token_ttl_s)
    actor = Principal(subject=API_KEY_SUBJECT + state.key_id, roles=state.roles, kind="service")
    await audit.record(
        session,
        publisher,
        actor=actor,
        action="auth.client_credentials.issued",
        entity_type="api_key",
        entity_id=state.key_id,
        before=None,
        after={"roles": sorted(roles), "expires_in": ttl},
        source_ip=client_ip(request),
    )
    body = ClientCredentialsToken(access_token=token, expires_in=ttl, scope=" ".join(sorted(roles)))
    return JSONResponse(
        body.model_dump(), headers={"cache-control": "no-store", "pragma": "no-cache"}
    )
