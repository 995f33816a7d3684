"""The gateway: the platform's one public door.

Own routes (FastAPI): the built-in issuer's JWKS and discovery, the client-credentials
grant, ``/api/v1/me``, the aggregated docs and the platform-wide readiness. Everything under
``/api/v1/<service>/`` goes through the lean proxy to that service, and so do the people
service's ``/api/v1/directory/...`` and ``/api/v1/auth/...`` (sign-in, users, API keys).
"""

from __future__ import annotations

import asyncio

import structlog
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp

from zhanli_gateway.apikeys.resolver import (
    ApiKeyMiddleware,
    ApiKeyResolver,
    PeopleKeyStore,
    RevocationWatch,
)
from zhanli_gateway.apikeys.router import TOKEN_PATH
from zhanli_gateway.apikeys.router import router as apikeys_router
from zhanli_gateway.audit.middleware import AuditMiddleware
from zhanli_gateway.audit.publisher import AuditEvents
from zhanli_gateway.db import event_tables, metadata
from zhanli_gateway.docs import docs_router
from zhanli_gateway.proxy import GatewayApp, ProxyApp, check_upstream
from zhanli_gateway.settings import GatewaySettings
from zhanli_gateway.wellknown import router as wellknown_router
from zhanli_shared.auth import TokenIssuer, TokenVerifier
from zhanli_shared.db import ping
from zhanli_shared.events.consumer import HandlerRegistry
from zhanli_shared.observability import RequestContextMiddleware
from zhanli_shared.runtime import Mode, Runtime, create_service_app
from zhanli_shared.settings import TrustedIssuer

log = structlog.get_logger("zhanli.gateway")


def create_app(settings: GatewaySettings | None = None, mode: Mode = Mode.SERVE) -> ASGIApp:
    settings = settings or GatewaySettings()
    private_pem = settings.private_key_pem()
    public_pem = settings.public_key_pem()
    own_public_pem: str | None = None  # the public half of the gateway's signing key
    if private_pem:
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key(private_pem.encode(), password=None)
        own_public_pem = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        idp = bool(settings.auth_jwks_url or settings.auth_discovery)
        previous = settings.previous_public_keys()
        # During a signing-key rotation the keys rotated out stay trusted (and published).
        trusted_own = "".join([own_public_pem, *previous.values()])
        if not public_pem and not idp:
            settings.auth_public_key = public_pem = trusted_own
        local = settings.local_issuer or settings.auth_issuer
        if local != settings.auth_issuer:
            # Next to the IdP, the gateway trusts the tokens it signs itself (API keys,
            # client credentials, the built-in login), with its own key: never by fetching
            # its own JWKS (the platform-wide AUTH_EXTRA_ISSUERS meant for the services may
            # point there).
            settings.auth_extra_issuers = [
                *(t for t in settings.auth_extra_issuers if t.issuer != local),
                TrustedIssuer(issuer=local, public_key=trusted_own),
            ]
        elif idp and local == settings.auth_issuer:
            log.warning(
                "gateway.local_issuer_shadows_idp",
                detail="set ZHANLI_GATEWAY_LOCAL_ISSUER: tokens the gateway signs would claim "
                "the IdP's issuer and fail verification",
            )
    verifier = TokenVerifier.from_settings(settings) if settings.auth_configured() else None
    proxy = ProxyApp(
        settings.upstreams,
        verifier=verifier,
        connect_timeout_s=settings.upstream_connect_timeout_s,
        read_timeout_s=settings.upstream_read_timeout_s,
        max_connections=settings.upstream_max_connections,
        breaker_threshold=settings.breaker_failure_threshold,
        breaker_reset_s=settings.breaker_reset_s,
        breaker_min_open_s=settings.breaker_min_open_s,
        breaker_probe_interval_s=settings.breaker_probe_interval_s,
        routes=settings.routes,
        public_paths=frozenset(settings.public_paths),
        local_paths=frozenset({TOKEN_PATH}),
    )
    audit_events = AuditEvents(settings, max_buffered=settings.audit_buffer_max_events)

    registry = HandlerRegistry()  # the gateway consumes no topic

    async def on_start(app: FastAPI, runtime: Runtime) -> None:
        await proxy.start()
        await audit_events.start()

    async def on_stop(app: FastAPI, runtime: Runtime) -> None:
        await audit_events.stop()
        await proxy.close()

    api = create_service_app(
        settings,
        metadata=metadata,
        tables=event_tables,
        registry=registry,
        mode=mode,
        routers=[
            wellknown_router,
            docs_router(proxy),
            apikeys_router,
        ],
        title="Zhanli API gateway",
        description="One door to the Zhanli platform.",
        on_start=on_start,
        on_stop=on_stop,
        readiness=lambda request: _platform_readiness(request.app.state.runtime, proxy),
    )
    api.state.issuer = (
        TokenIssuer(
            private_pem,
            issuer=settings.local_issuer or settings.auth_issuer,
            audience=settings.auth_audience,
            key_id=settings.auth_key_id,
        )
        if private_pem
        else None
    )
    api.state.public_key_pem = own_public_pem or public_pem
    api.state.local_issuer = settings.local_issuer or settings.auth_issuer
    api.state.key_id = settings.auth_key_id
    api.state.previous_keys = settings.previous_public_keys() if private_pem else {}
    if mode in (Mode.SERVE, Mode.API):  # /api/v1/me: the mobile app's own view (BFF)
        from zhanli_gateway.me.router import build_router as me_router

        api.include_router(me_router(proxy))

    # Login attempts and refused authorisation (403), here and from the services,
    # published for the audit service (zhanli_gateway.audit).
    api.state.audit_events = audit_events
    api.add_middleware(AuditMiddleware, events=audit_events, verifier=verifier)
    proxied = AuditMiddleware(proxy, events=audit_events, verifier=verifier)
    from zhanli_gateway.edge import EdgeMiddleware

    # API keys (stored by the people service) become short-lived JWTs of the gateway's issuer
    # for everything behind.
    api_keys = ApiKeyResolver(
        PeopleKeyStore(proxy, lambda: api.state.issuer),
        lambda: api.state.issuer,
        ttl_s=settings.api_key_cache_ttl_s,
        token_ttl_s=settings.api_key_token_ttl_s,
    )
    api.state.api_keys = api_keys
    watched = RevocationWatch(proxied, api_keys)
    gateway = GatewayApp(api, proxy, RequestContextMiddleware(watched, service="gateway"))
    keyed = ApiKeyMiddleware(gateway, api_keys, verifier)
    # Edge protections (CORS, rate limits, body size, security headers) around everything.
    return EdgeMiddleware(keyed, settings, verifier=verifier, api_keys=api_keys)


async def _platform_readiness(runtime: Runtime, proxy: ProxyApp) -> JSONResponse:
    components: dict[str, dict[str, str]] = {}
    try:
        await asyncio.wait_for(ping(runtime.engine), 2.0)
        components["gateway"] = {"state": "ok"}
    except Exception as exc:
        components["gateway"] = {"state": f"database error: {type(exc).__name__}"}
    components["broker"] = {"state": "ok" if await runtime.broker_ok() else "unreachable"}
    names = sorted(proxy.upstreams)
    states = await asyncio.gather(*(check_upstream(proxy, n) for n in names))
    for name, state in zip(names, states, strict=True):
        components[name] = {
            "state": state,
            "url": proxy.upstreams[name],
            "breaker": proxy.breakers[name].state,
        }
    ok = all(c["state"] == "ok" for c in components.values())
    return JSONResponse(
        {"status": "ready" if ok else "not_ready", "components": components},
        status_code=200 if ok else 503,
    )
