"""Authentication and authorisation every service enforces (defence in depth).

Tokens are JWTs from the enterprise IdP (or the gateway's local issuer in the embedded
mode). Verification pins the algorithm list, and checks issuer, audience, expiry and
subject; ``none`` and HMAC algorithms are never accepted with a public key.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request

from zhanli_shared.errors import Forbidden, Unauthorized
from zhanli_shared.settings import ServiceSettings

# A key id names a key in a JWKS and nothing else: short, plain characters, never a path or
# a query. A token whose ``kid`` is anything else is refused before any key is looked up.
KID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$")
# Headers that would let a token name where its own key comes from: never trusted, refused.
_KEY_LOCATING_HEADERS = ("jku", "x5u", "jwk", "x5c")

ASYMMETRIC = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"}


class Role(StrEnum):
    HR_ADMIN = "hr_admin"
    HR_BP = "hr_bp"
    RECRUITER = "recruiter"
    SALES_MANAGER = "sales_manager"
    MENTOR = "mentor"
    SALESPERSON = "salesperson"
    FINANCE = "finance"
    EXECUTIVE = "executive"
    IT_OPS = "it_ops"
    INTEGRATION = "integration"


# Roles that see every person's data, whatever the org tree says.
COMPANY_WIDE = frozenset({Role.HR_ADMIN, Role.HR_BP, Role.FINANCE, Role.EXECUTIVE})
# Roles that see pay and commission figures of people outside their own management chain.
PAY_READERS = frozenset({Role.HR_ADMIN, Role.HR_BP, Role.FINANCE})


@dataclass(frozen=True)
class Principal:
    """Who is calling: a person (``sub`` = employee id) or another system."""

    subject: str
    roles: frozenset[str]
    org_units: frozenset[str] = field(default_factory=frozenset)
    name: str | None = None
    kind: str = "user"
    token_id: str | None = None

    def has_any(self, roles: Iterable[str]) -> bool:
        return not self.roles.isdisjoint(roles)

    def manages(self, org_path: Sequence[str]) -> bool:
        """True when a unit on ``org_path`` (root .. unit) is in this principal's scope."""
        return not self.org_units.isdisjoint(org_path)

    def can_view_person(self, employee_id: str, org_path: Sequence[str]) -> bool:
        return employee_id == self.subject or self.has_any(COMPANY_WIDE) or self.manages(org_path)

    def can_view_pay(self, employee_id: str, org_path: Sequence[str]) -> bool:
        """Pay and commission: the person, their management chain, finance and HR."""
        return employee_id == self.subject or self.has_any(PAY_READERS) or self.manages(org_path)


_PEM_BLOCK = re.compile(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)


def split_pem(text: str) -> list[str]:
    """The public keys of a PEM text holding one or several (a rotation's overlap)."""
    blocks = _PEM_BLOCK.findall(text)
    return [b + "\n" for b in blocks] if blocks else [text]


DISCOVERY_PATH = "/.well-known/openid-configuration"
_discovered: dict[str, dict[str, Any]] = {}  # discovery URL -> document (one fetch a process)


def discover(issuer: str, *, timeout_s: float = 5.0) -> dict[str, Any]:
    """The OIDC discovery document of ``issuer`` (``<issuer>/.well-known/openid-configuration``),
    fetched once per process and cached. Its ``issuer`` must equal ``issuer`` (OIDC Discovery
    4.3: a document naming another issuer is refused) and it must give a ``jwks_uri``."""
    url = issuer.rstrip("/") + DISCOVERY_PATH
    doc = _discovered.get(url)
    if doc is not None:
        return doc
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"OIDC discovery needs an http(s) issuer URL, not {issuer!r}")
    import json
    import urllib.request

    with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # http(s) only: checked above
        doc = json.loads(resp.read())
    if not isinstance(doc, dict) or str(doc.get("issuer", "")).rstrip("/") != issuer.rstrip("/"):
        raise ValueError(f"the discovery document at {url} names another issuer")
    if not isinstance(doc.get("jwks_uri"), str):
        raise ValueError(f"the discovery document at {url} has no jwks_uri")
    _discovered[url] = doc
    return doc


class IssuerKeys:
    """Where the signing keys of one trusted issuer come from: a PEM public key, a JWKS URL
    (PyJWKClient: cached, refetched on an unknown ``kid``, so key rotation just works), or
    OIDC discovery of the JWKS URL from the issuer (at start; retried on use if the IdP was
    unreachable then)."""

    RETRY_DISCOVERY_S = 10.0

    def __init__(
        self,
        issuer: str,
        *,
        public_key: str | None = None,
        jwks_url: str | None = None,
        discovery: bool = False,
        jwks_cache_s: float = 300,
    ) -> None:
        if not public_key and not jwks_url and not discovery:
            raise ValueError(f"issuer {issuer!r}: configure a public key, a JWKS URL or discovery")
        self.jwks_cache_s = jwks_cache_s
        self.issuer = issuer
        self.public_key = public_key
        self.pem_keys: list[str] = split_pem(public_key) if public_key else []
        self.named_keys: dict[str, str] = {}
        self.jwks: jwt.PyJWKClient | None = None
        self._discover = discovery and not jwks_url and not public_key
        if self._discover and not issuer.startswith(("https://", "http://")):
            raise ValueError(f"OIDC discovery needs an http(s) issuer URL, not {issuer!r}")
        self._next_try = 0.0
        if jwks_url:
            self.jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=jwks_cache_s)
        elif self._discover:
            self._try_discovery()

    def _try_discovery(self) -> None:
        try:
            self.jwks = jwt.PyJWKClient(
                discover(self.issuer)["jwks_uri"], cache_keys=True, lifespan=self.jwks_cache_s
            )
        except (OSError, ValueError) as exc:
            import structlog

            structlog.get_logger("zhanli.auth").warning(
                "auth.discovery_failed", issuer=self.issuer, error=repr(exc)
            )
            self._next_try = time.monotonic() + self.RETRY_DISCOVERY_S

    def key_for(self, token: str) -> Any:
        return self.keys_for(token, None)[0]

    def keys_for(self, token: str, kid: str | None) -> list[Any]:
        """The keys to try for ``token``: the JWKS key of its ``kid``; or, with PEM keys, the
        one of that kid when named (``named_keys``) else each configured key (a PEM file may
        hold several: during a signing-key rotation, the new and the old public key)."""
        if self.jwks is None and self._discover and time.monotonic() >= self._next_try:
            self._try_discovery()
        if self.jwks is not None:
            return [self.jwks.get_signing_key_from_jwt(token).key]
        if self.public_key:
            if kid is not None and kid in self.named_keys:
                return [self.named_keys[kid]]
            return self.pem_keys
        raise Unauthorized(f"The keys of issuer {self.issuer!r} are not reachable yet.")


class TokenVerifier:
    """Verifies bearer tokens of one issuer (``issuer``) or several (``extra_issuers``, e.g.
    the enterprise IdP and the gateway's own issuer of machine tokens). With several, the
    token's ``iss`` picks the issuer and only that issuer's keys are tried: a token signed
    by one issuer's key but claiming another issuer never verifies."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        algorithms: Sequence[str],
        public_key: str | None = None,
        jwks_url: str | None = None,
        leeway_s: int = 30,
        discovery: bool = False,
        extra_issuers: Sequence[IssuerKeys] = (),
        jwks_cache_s: float = 300,
    ) -> None:
        algs = [a for a in algorithms if a in ASYMMETRIC]
        if not algs:
            raise ValueError("auth_algorithms must list at least one asymmetric algorithm")
        if not public_key and not jwks_url and not discovery:
            raise ValueError("configure auth_public_key(_file), auth_jwks_url or auth_discovery")
        self.issuer, self.audience, self.algorithms = issuer, audience, algs
        primary = IssuerKeys(
            issuer,
            public_key=public_key,
            jwks_url=jwks_url,
            discovery=discovery,
            jwks_cache_s=jwks_cache_s,
        )
        self.issuers: dict[str, IssuerKeys] = {issuer: primary}
        for extra in extra_issuers:
            if extra.issuer in self.issuers:
                raise ValueError(f"issuer {extra.issuer!r} is configured twice")
            self.issuers[extra.issuer] = extra
        self._only = primary if len(self.issuers) == 1 else None
        self.public_key = public_key
        self.jwks = primary.jwks
        self.leeway = leeway_s
        self.cache_size = 10_000
        self._cache: dict[str, tuple[Principal, float]] = {}

    @classmethod
    def from_settings(
        cls, s: ServiceSettings, *, extra_issuers: Sequence[IssuerKeys] = ()
    ) -> TokenVerifier:
        extras = [
            IssuerKeys(
                t.issuer,
                public_key=t.public_key_pem(),
                jwks_url=t.jwks_url,
                discovery=t.discovery,
                jwks_cache_s=s.auth_jwks_cache_s,
            )
            for t in s.auth_extra_issuers
        ]
        return cls(
            issuer=s.auth_issuer,
            audience=s.auth_audience,
            algorithms=s.auth_algorithms,
            public_key=s.public_key_pem(),
            jwks_url=s.auth_jwks_url,
            leeway_s=s.auth_leeway_s,
            discovery=s.auth_discovery,
            extra_issuers=[*extras, *extra_issuers],
            jwks_cache_s=s.auth_jwks_cache_s,
        )

    def verify(self, token: str) -> Principal:
        """The caller of a valid token. A token verified before is answered from a small
        cache until it expires (the signature check is the costly part of a request)."""
        hit = self._cache.get(token)
        if hit is not None and hit[1] > time.time():
            return hit[0]
        principal, expires = self._verify(token)
        if len(self._cache) >= self.cache_size:
            self._cache.pop(next(iter(self._cache)))
        self._cache[token] = (principal, expires)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("The bearer token is malformed.") from exc
        if header.get("alg") not in self.algorithms:
            raise Unauthorized(f"Token algorithm {header.get('alg')!r} is not accepted.")
        kid = header.get("kid")
        if kid is not None and (not isinstance(kid, str) or not KID.match(kid) or ".." in kid):
            # Checked before any key look-up: a kid is never a path, a URL or SQL.
            raise Unauthorized("The token's key id (kid) is not acceptable.")
        if any(h in header for h in _KEY_LOCATING_HEADERS):
            raise Unauthorized("Tokens may not say where their key is (jku, x5u, jwk, x5c).")
        source = self._only
        if source is None:
            try:
                iss = jwt.decode(token, options={"verify_signature": False}).get("iss")
            except jwt.PyJWTError as exc:
                raise Unauthorized("The bearer token is malformed.") from exc
            source = self.issuers.get(iss) if isinstance(iss, str) else None
            if source is None:
                raise Unauthorized(f"The token's issuer {iss!r} is not trusted.")
        try:
            keys: list[Any] = source.keys_for(token, kid)
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"The bearer token is not valid: {exc}") from exc
        claims: dict[str, Any] = {}
        for i, key in enumerate(keys):
            try:
                claims = jwt.decode(
                    token,
                    key=key,
                    algorithms=self.algorithms,
                    audience=self.audience,
                    issuer=source.issuer,
                    leeway=self.leeway,
                    options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                )
                break
            except jwt.ExpiredSignatureError as exc:
                raise Unauthorized("The bearer token has expired.") from exc
            except jwt.InvalidSignatureError as exc:
                if i == len(keys) - 1:  # another key of the set may have signed it
                    raise Unauthorized(f"The bearer token is not valid: {exc}") from exc
            except jwt.PyJWTError as exc:
                raise Unauthorized(f"The bearer token is not valid: {exc}") from exc
        roles = claims.get("roles", [])
        org_units = claims.get("org_units", [])
        if not isinstance(roles, list) or not isinstance(org_units, list):
            raise Unauthorized("The token's roles and org_units must be lists.")
        return Principal(
            subject=str(claims["sub"]),
            roles=frozenset(map(str, roles)),
            org_units=frozenset(map(str, org_units)),
            name=claims.get("name"),
            kind=str(claims.get("kind", "user")),
            token_id=claims.get("jti"),
        ), float(claims["exp"])


class TokenIssuer:
    """Signs tokens: the gateway's local issuer in the embedded mode, and tests."""

    def __init__(
        self,
        private_key_pem: str,
        *,
        issuer: str,
        audience: str,
        algorithm: str = "RS256",
        key_id: str | None = None,
        ttl_s: int = 3600,
    ) -> None:
        self.key, self.issuer, self.audience = private_key_pem, issuer, audience
        self.algorithm, self.kid, self.ttl = algorithm, key_id, ttl_s

    def issue(
        self,
        subject: str,
        roles: Iterable[str],
        *,
        org_units: Iterable[str] = (),
        name: str | None = None,
        kind: str = "user",
        ttl_s: int | None = None,
        **extra: Any,
    ) -> str:
        now = dt.datetime.now(dt.UTC)
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + dt.timedelta(seconds=ttl_s or self.ttl),
            "jti": uuid.uuid4().hex,
            "roles": sorted(roles),
            "org_units": sorted(org_units),
            "kind": kind,
            **extra,
        }
        if name:
            claims["name"] = name
        headers = {"kid": self.kid} if self.kid else None
        return jwt.encode(claims, self.key, algorithm=self.algorithm, headers=headers)


def generate_rsa_keypair() -> tuple[str, str]:
    """A fresh RSA-2048 key pair as (private PEM, public PEM)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


class SubjectStatus:
    """Who may no longer act although their token is still valid: people the directory says
    have left (their tokens, and through the people service the API keys they own, stop
    working as soon as the change reaches this service, whatever the token's expiry).

    ``load`` returns the current set of inactive subjects (one indexed query on the local
    directory projection); it is re-read at most every ``refresh_s`` seconds, so a request
    costs a set look-up. ``mark`` applies a change at once in this process (the projection's
    handler calls it when it runs here)."""

    def __init__(
        self,
        load: Callable[[], Awaitable[Iterable[str]]],
        *,
        refresh_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load, self.refresh_s, self.clock = load, refresh_s, clock
        self._inactive: frozenset[str] = frozenset()
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    def mark(self, subject: str, *, active: bool) -> None:
        self._inactive = (
            self._inactive - {subject} if active else self._inactive | frozenset({subject})
        )

    async def inactive(self, subject: str) -> bool:
        if self.clock() - self._loaded_at >= self.refresh_s:
            async with self._lock:
                if self.clock() - self._loaded_at >= self.refresh_s:
                    started = self.clock()
                    self._inactive = frozenset(await self._load())
                    self._loaded_at = started
        return subject in self._inactive


async def get_principal(request: Request) -> Principal:
    """The FastAPI dependency: the verified caller, or 401. (async: a sync dependency
    would cost a thread-pool hop per request.) A person the directory says has left is
    refused (401) even with an unexpired token."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Send 'Authorization: Bearer <token>'.")
    verifier: TokenVerifier = request.app.state.verifier
    principal = verifier.verify(token.strip())
    status: SubjectStatus | None = getattr(request.app.state, "subject_status", None)
    if status is not None and principal.kind == "user" and await status.inactive(principal.subject):
        raise Unauthorized("This account is no longer active.")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_roles(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through only callers holding one of ``roles``."""
    allowed = frozenset(roles)

    async def check(principal: CurrentPrincipal) -> Principal:
        if not principal.has_any(allowed):
            raise Forbidden(f"This needs one of the roles: {', '.join(sorted(allowed))}.")
        return principal

    return check
