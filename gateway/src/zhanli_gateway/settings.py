"""The gateway's settings (env prefix ZHANLI_GATEWAY_, falling back to ZHANLI_)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from zhanli_shared.settings import ServiceSettings

DEFAULT_UPSTREAMS = {
    "people": "http://127.0.0.1:8006",
    "talent": "http://127.0.0.1:8001",
    "learning": "http://127.0.0.1:8002",
    "kpi": "http://127.0.0.1:8003",
    "commission": "http://127.0.0.1:8004",
    "retention": "http://127.0.0.1:8005",
    "audit": "http://127.0.0.1:8007",
}
# /api/v1/<segment>/ answered by an upstream of another name: the people service holds the
# directory, sign-in, local users and API keys; the audit service the webhooks.
DEFAULT_ROUTES = {"directory": "people", "auth": "people", "webhooks": "audit"}


class GatewaySettings(ServiceSettings):
    service_name: ClassVar[str] = "gateway"
    default_port: ClassVar[int] = 8000
    model_config = SettingsConfigDict(
        env_prefix="ZHANLI_GATEWAY_", extra="ignore", env_nested_delimiter="__"
    )

    upstreams: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_UPSTREAMS))
    routes: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_ROUTES),
        description="first path segment after /api/v1/ -> upstream name, for segments "
        "that are not themselves an upstream's name",
    )
    upstream_connect_timeout_s: float = 2.0
    upstream_read_timeout_s: float = 30.0
    upstream_max_connections: int = 256
    breaker_failure_threshold: int = 5
    breaker_reset_s: float = 10.0  # the longest an open breaker waits before a try
    breaker_min_open_s: float = 0.5  # the first wait (doubled after each failed try)
    breaker_probe_interval_s: float = 0.5  # /health/live of an unreachable upstream
    public_paths: list[str] = Field(
        default_factory=lambda: ["/api/v1/auth/token"],
        description="proxied without a token (the built-in issuer's sign-in)",
    )

    auth_private_key: SecretStr | None = None
    auth_private_key_file: str | None = None
    auth_key_id: str = "zhanli-local-1"
    auth_previous_keys: dict[str, str] = Field(
        default_factory=dict,
        description="Signing-key rotation: kid -> public key (PEM text or a file path) of "
        "keys this gateway no longer signs with; still published in the JWKS and trusted "
        "until the tokens they signed have expired. JSON, e.g. "
        '\'{"zhanli-local-1": "/var/lib/zhanli/keys/jwt-public-1.pem"}\'',
    )
    local_issuer: str | None = Field(
        default=None,
        description="'iss' of the tokens this gateway signs (API keys, client credentials; "
        "the people service signs the built-in sign-in with the same key and issuer); "
        "default auth_issuer. With an enterprise IdP set it "
        "apart (e.g. 'zhanli-gateway'): the gateway then trusts both, and the services trust "
        "it through auth_extra_issuers.",
    )

    # Machine identities (zhanli_gateway.apikeys). A verified key is cached this long per
    # gateway process: a revocation takes effect within this many seconds.
    api_key_cache_ttl_s: float = 5.0
    api_key_token_ttl_s: int = 300  # the internal JWT forwarded for a key
    client_credentials_token_ttl_s: int = 900  # access tokens of the client-credentials grant

    # Edge protections (zhanli_gateway.edge). Lists and dicts are JSON in the environment,
    # e.g. ZHANLI_GATEWAY_CORS_ALLOWED_ORIGINS='["https://admin.example.com"]'.
    # Rate limits are token buckets per caller and per gateway process: with N replicas a
    # caller gets up to N times these figures (no shared store yet; Redis is the next step).
    # The defaults are meant to stop runaway scripts, not bulk loads by HR or integrations;
    # lower them where the callers are known.
    rate_limit_enabled: bool = True
    rate_limit_user_per_s: float = 100.0  # a verified token's subject
    rate_limit_user_burst: int = 500
    rate_limit_integration_per_s: float = 1000.0  # subjects holding the integration role
    rate_limit_integration_burst: int = 2000
    rate_limit_anonymous_per_s: float = 20.0  # no valid token: per client IP
    rate_limit_anonymous_burst: int = 100
    rate_limit_login_per_s: float = 0.5  # the login endpoint: per client IP, always
    rate_limit_login_burst: int = 20
    rate_limit_login_paths: list[str] = Field(
        default_factory=lambda: ["/api/v1/auth/token", "/api/v1/auth/oauth/token"]
    )
    rate_limit_exempt_paths: list[str] = Field(default_factory=lambda: ["/health/"])
    rate_limit_max_buckets: int = 100_000  # per caller class; least recently seen go first
    body_limit_bytes: int = 10 * 1024 * 1024
    body_limit_by_path: dict[str, int] = Field(
        default_factory=dict, description="path prefix -> bytes, e.g. resume uploads"
    )
    cors_allowed_origins: list[str] = Field(default_factory=list)  # the admin console's origin
    cors_allow_credentials: bool = False  # bearer tokens are not cookies: off by default
    cors_allow_methods: list[str] = Field(
        default_factory=lambda: ["GET", "POST", "PUT", "PATCH", "DELETE"]
    )
    cors_allow_headers: list[str] = Field(
        default_factory=lambda: [
            "authorization",
            "content-type",
            "x-request-id",
            "x-api-key",
            "idempotency-key",
        ]
    )
    cors_max_age_s: int = 600
    hsts_enabled: bool = True
    hsts_max_age_s: int = 31_536_000
    docs_csp: str = Field(
        default_factory=lambda: docs_csp_default(),
        description="CSP of /docs and /redoc (Swagger UI and ReDoc load from the CDN FastAPI "
        "points at); empty = the strict API policy (the docs pages then stay blank)",
    )

    # What the gateway audits (sign-ins, refusals) goes to the broker through a bounded
    # buffer (zhanli_gateway.audit.publisher): beyond this many waiting events, new ones
    # are dropped and counted (zhanli_gateway_audit_events_total{outcome="dropped"}).
    audit_buffer_max_events: int = Field(default=10_000, ge=1)

    def model_post_init(self, __context: Any) -> None:
        super().model_post_init(__context)
        if not self.local_issuer:
            self.local_issuer = self.auth_issuer

    def previous_public_keys(self) -> dict[str, str]:
        """kid -> PEM of the keys rotated out (still published and trusted)."""
        out = {}
        for kid, value in self.auth_previous_keys.items():
            out[kid] = value if "-----BEGIN" in value else Path(value).read_text()
        return out

    def private_key_pem(self) -> str | None:
        if self.auth_private_key:
            return self.auth_private_key.get_secret_value()
        if self.auth_private_key_file:
            return Path(self.auth_private_key_file).read_text()
        return None


def docs_origins() -> list[str]:
    """The origins FastAPI's own docs pages load their scripts and styles from."""
    import inspect
    from urllib.parse import urlsplit

    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

    urls = [
        p.default
        for fn in (get_swagger_ui_html, get_redoc_html)
        for name, p in inspect.signature(fn).parameters.items()
        if name.endswith(("_js_url", "_css_url")) and isinstance(p.default, str)
    ]
    return sorted({f"{urlsplit(u).scheme}://{urlsplit(u).netloc}" for u in urls if "://" in u})


def docs_csp_default() -> str:
    origins = " ".join(docs_origins())
    return (
        f"default-src 'none'; script-src 'unsafe-inline' {origins}; "
        f"style-src 'unsafe-inline' {origins}; font-src {origins}; img-src 'self' data: https:; "
        "connect-src 'self'; worker-src blob:; frame-ancestors 'none'"
    )
