"""The hot path of API keys: verify a key, swap it for a short-lived JWT of the gateway's own
issuer, and forward that (services keep verifying one kind of token: defence in depth).

The keys are stored by the people service; the gateway asks it for a key's state (its
hash, roles, expiry, revocation) on the internal endpoint ``GET
/internal/v1/api-keys/{key_id}`` with a service token of its own (``PeopleKeyStore``), and
checks the secret itself.

Caching: a key's state is fetched at most once per ``api_key_cache_ttl_s`` per gateway
process (and the JWT minted for it is reused until half its life is gone), so a known key
costs a SHA-256 and two dict lookups. **A revocation takes effect within that TTL** on every
gateway process (at once on the process that relayed the revocation: ``RevocationWatch``);
an expiry takes effect at once (checked on every request). Bearer tokens minted for a key
(the client-credentials grant) are checked against the same cache: revoking the key stops
them at the gateway too. The people service notes ``last_used_at`` on the look-ups (at
most once a minute per key).
"""

from __future__ import annotations

import datetime as dt
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zhanli_gateway.proxy import ProxyApp
from zhanli_gateway.upstream import Headers, UpstreamBroken, UpstreamError, UpstreamTimeout
from zhanli_shared import apikeys as core
from zhanli_shared.apikeys import API_KEY_SUBJECT
from zhanli_shared.auth import Principal, TokenIssuer, TokenVerifier
from zhanli_shared.errors import ProblemError, Unauthorized, send_problem
from zhanli_shared.observability import current_request_id

log = structlog.get_logger("zhanli.apikeys")

_APIKEY_SCHEME = b"apikey "


@dataclass(frozen=True)
class KeyState:
    key_id: str
    secret_hash: str | None  # None: no such key
    name: str = ""
    roles: frozenset[str] = frozenset()
    expires_at: float | None = None  # epoch seconds
    revoked: bool = False  # revoked, or its owner has left
    owner: str | None = None

    def problem(self, now: float) -> str | None:
        """Why this (known, secret-checked) key may not be used now, or None."""
        if self.revoked:
            return "The API key has been revoked."
        if self.expires_at is not None and now >= self.expires_at:
            return "The API key has expired."
        return None


class KeyStoreUnavailable(Exception):
    """The people service could not say what a key is (down, failing, too slow)."""


KeyLookup = Callable[[str], Awaitable[KeyState]]


class PeopleKeyStore:
    """A key's state from the people service (``GET /internal/v1/api-keys/{key_id}``), asked
    with a service token of the gateway's own issuer, through the proxy's upstream client
    and the people service's circuit breaker."""

    SUBJECT = "service:gateway"

    def __init__(
        self,
        proxy: ProxyApp,
        issuer: Callable[[], TokenIssuer | None],
        *,
        service: str = "people",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.proxy, self.issuer, self.service, self.clock = proxy, issuer, service, clock
        self._token: tuple[str, float] | None = None

    def _bearer(self) -> str:
        now = self.clock()
        if self._token is not None and now < self._token[1]:
            return self._token[0]
        issuer = self.issuer()
        if issuer is None:
            raise Unauthorized(
                "API keys need the gateway's own issuer (ZHANLI_GATEWAY_AUTH_PRIVATE_KEY_FILE)."
            )
        token = issuer.issue(self.SUBJECT, [], name="gateway", kind="service", ttl_s=300)
        self._token = (token, now + 150)
        return token

    async def __call__(self, key_id: str) -> KeyState:
        base = self.proxy.upstreams.get(self.service)
        if base is None:
            raise KeyStoreUnavailable(f"no {self.service} service")
        breaker = self.proxy.breakers[self.service]
        if not breaker.allow():
            raise KeyStoreUnavailable(f"the {self.service} service's breaker is open")
        headers: Headers = [
            (b"authorization", b"Bearer " + self._bearer().encode()),
            (b"accept", b"application/json"),
        ]
        rid = current_request_id()
        if rid:
            headers.append((b"x-request-id", rid.encode("latin-1")))
        target = f"/internal/v1/api-keys/{key_id}".encode()
        try:
            resp = await self.proxy.client_for("GET", base, None).request(
                "GET", base, target, headers, None
            )
            try:
                body = await resp.read()
            finally:
                resp.close()
        except UpstreamTimeout as exc:
            self.proxy.failed(self.service, down=True)
            raise KeyStoreUnavailable(repr(exc)) from exc
        except UpstreamError as exc:
            self.proxy.failed(self.service, down=not isinstance(exc, UpstreamBroken))
            raise KeyStoreUnavailable(repr(exc)) from exc
        status = resp.status
        if status >= 500:
            breaker.failure()
        else:
            breaker.success()
        if status != 200:
            raise KeyStoreUnavailable(f"the {self.service} service answered {status}")
        data = orjson.loads(body)
        if not data.get("known"):
            return KeyState(key_id, None)
        expires = data.get("expires_at")
        return KeyState(
            key_id,
            data["secret_hash"],
            data.get("name", ""),
            frozenset(data.get("roles", [])),
            dt.datetime.fromisoformat(expires).timestamp() if expires else None,
            bool(data.get("revoked")),
            data.get("owner"),
        )


class ApiKeyResolver:
    def __init__(
        self,
        lookup: KeyLookup,
        issuer: Callable[[], TokenIssuer | None],
        *,
        ttl_s: float = 5.0,
        token_ttl_s: int = 300,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.lookup, self.issuer = lookup, issuer
        self.ttl, self.token_ttl, self.max_entries = ttl_s, token_ttl_s, max_entries
        self.clock, self.wall = clock, wall
        self._states: OrderedDict[str, tuple[KeyState, float]] = OrderedDict()
        self._tokens: dict[str, tuple[str, float]] = {}  # key_id -> (jwt, renew after)

    # --- the key's row, cached
    def _cached(self, key_id: str) -> KeyState | None:
        hit = self._states.get(key_id)
        if hit is not None and self.clock() - hit[1] < self.ttl:
            return hit[0]
        return None

    async def state(self, key_id: str) -> KeyState:
        cached = self._cached(key_id)
        if cached is not None:
            return cached
        state = await self.lookup(key_id)
        self._states[key_id] = (state, self.clock())
        self._states.move_to_end(key_id)
        while len(self._states) > self.max_entries:  # unknown ids must not fill memory
            self._states.popitem(last=False)
        if state.secret_hash is None or state.problem(self.wall()):
            self._tokens.pop(key_id, None)
        return state

    def forget(self, key_id: str) -> None:
        """Drop what this process knows of a key (after revoking it here)."""
        self._states.pop(key_id, None)
        self._tokens.pop(key_id, None)

    def forget_owner(self, owner: str | None) -> None:
        """Drop the keys of ``owner`` (every key when None): after a directory change
        relayed here, such as a departure, their next use asks the people service again."""
        for key_id, (state, _) in list(self._states.items()):
            if owner is None or state.owner == owner:
                self.forget(key_id)

    # --- verification
    async def authenticate(self, raw: str) -> KeyState:
        """The state of a valid key, else ``Unauthorized`` (malformed, unknown, wrong
        secret, revoked, expired)."""
        parsed = core.parse_key(raw)
        if parsed is None:
            raise Unauthorized("The API key is malformed (expected zl_<key_id>_<secret>).")
        return await self.authenticate_pair(*parsed)

    async def authenticate_pair(self, key_id: str, secret: str) -> KeyState:
        if not core.KEY_ID.match(key_id):
            raise Unauthorized("Unknown API key or wrong secret.")
        state = await self.state(key_id)
        if state.secret_hash is None or not core.secret_matches(key_id, secret, state.secret_hash):
            raise Unauthorized("Unknown API key or wrong secret.")
        problem = state.problem(self.wall())
        if problem:
            raise Unauthorized(problem)
        return state

    def peek(self, raw: bytes) -> tuple[str, frozenset[str]] | None:
        """(subject, roles) of a key verified before, without any I/O (the edge's rate limiter
        classes callers with it); None otherwise. A state older than the TTL still counts
        here: it only picks a bucket, and the key is checked again right after."""
        try:
            parsed = core.parse_key(raw.decode("latin-1").strip())
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
            return None
        if parsed is None:
            return None
        hit = self._states.get(parsed[0])
        state = hit[0] if hit is not None else None
        if (
            state is None
            or state.secret_hash is None
            or not core.secret_matches(parsed[0], parsed[1], state.secret_hash)
            or state.problem(self.wall())
        ):
            return None
        return API_KEY_SUBJECT + state.key_id, state.roles

    async def check_principal(self, principal: Principal) -> None:
        """A bearer token minted for a key is refused once the key is revoked or expired."""
        if not principal.subject.startswith(API_KEY_SUBJECT):
            return
        state = await self.state(principal.subject[len(API_KEY_SUBJECT) :])
        problem = "The API key of this token is unknown." if state.secret_hash is None else None
        problem = problem or state.problem(self.wall())
        if problem:
            raise Unauthorized(problem)

    # --- tokens
    def mint(
        self, state: KeyState, *, roles: Iterable[str] | None = None, ttl_s: int | None = None
    ) -> tuple[str, int]:
        """A JWT of the gateway's issuer for this key: (token, lifetime in seconds); never
        outlives the key's expiry."""
        issuer = self.issuer()
        if issuer is None:
            raise Unauthorized(
                "API keys need the gateway's own issuer (ZHANLI_GATEWAY_AUTH_PRIVATE_KEY_FILE)."
            )
        ttl = ttl_s or self.token_ttl
        if state.expires_at is not None:
            ttl = min(ttl, int(state.expires_at - self.wall()))
        ttl = max(ttl, 1)
        token = issuer.issue(
            API_KEY_SUBJECT + state.key_id,
            state.roles if roles is None else roles,
            name=state.name,
            kind="service",
            ttl_s=ttl,
        )
        return token, ttl

    async def token_for(self, raw: str) -> str:
        state = await self.authenticate(raw)
        hit = self._tokens.get(state.key_id)
        now = self.clock()
        if hit is not None and now < hit[1]:
            return hit[0]
        token, ttl = self.mint(state)
        self._tokens[state.key_id] = (token, now + ttl / 2)
        return token


class ApiKeyMiddleware:
    """``X-API-Key: <key>`` or ``Authorization: ApiKey <key>`` -> ``Authorization: Bearer
    <JWT of the gateway's issuer>`` for everything behind (the gateway's own routes and the
    proxy); the key itself is never forwarded. A bad key is answered here: 401."""

    def __init__(
        self, app: ASGIApp, resolver: ApiKeyResolver, verifier: TokenVerifier | None
    ) -> None:
        self.app, self.resolver, self.verifier = app, resolver, verifier

    def __getattr__(self, name: str) -> Any:
        """``.api``, ``.proxy`` ... of the wrapped GatewayApp (not on the hot path)."""
        if name == "app":
            raise AttributeError(name)
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw: bytes | None = None
        bearer: bytes | None = None
        for name, value in scope["headers"]:  # one pass, no copy: the common case
            if name == b"x-api-key":
                raw = value
            elif name == b"authorization":
                if value[:7].lower() == _APIKEY_SCHEME:
                    raw = value[7:]
                else:
                    bearer = value
        token: str | None = None
        try:
            if raw is None:
                if (
                    bearer is not None
                    and self.verifier is not None
                    and bearer[:7].lower() == b"bearer "
                ):
                    try:
                        principal = self.verifier.verify(bearer[7:].decode("latin-1").strip())
                    except ProblemError:
                        principal = None  # not ours to answer: the route or the proxy will
                    if principal is not None:
                        await self.resolver.check_principal(principal)
            elif bearer is not None:
                raise Unauthorized("Send either an API key or a bearer token, not both.")
            else:
                token = await self.resolver.token_for(raw.decode("latin-1").strip())
        except ProblemError as exc:
            await send_problem(
                send,
                401,
                "Authentication required",
                exc.detail,
                code="unauthorized",
                headers=[(b"www-authenticate", b'ApiKey realm="zhanli", Bearer realm="zhanli"')],
            )
            return
        except Exception as exc:  # the key store is unreachable (database down)
            log.error("apikeys.verify_failed", error=repr(exc))
            await send_problem(
                send,
                503,
                "Service unavailable",
                "The API key cannot be verified right now; retry shortly.",
                code="unavailable",
                headers=[(b"retry-after", b"5")],
            )
            return
        if token is None:
            await self.app(scope, receive, send)
            return
        headers = [
            (name, value)
            for name, value in scope["headers"]
            if name != b"x-api-key" and name != b"authorization"  # the key never goes on
        ]
        headers.append((b"authorization", b"Bearer " + token.encode()))
        await self.app({**scope, "headers": headers}, receive, send)


class RevocationWatch:
    """Around the proxy: when the people service answers a revocation (``DELETE
    /api/v1/auth/api-keys/{key_id}``) with 204, this gateway process forgets the key at once
    (the others within their cache TTL); after a successful change of a person in the
    directory (``PUT|PATCH /api/v1/directory/employees/{id}``: a departure) it forgets the
    keys that person owns, after an HRIS import every key. Every other request passes
    untouched."""

    PREFIX = "/api/v1/auth/api-keys/"
    PEOPLE = "/api/v1/directory/employees/"
    IMPORTS = "/api/v1/directory/imports"

    def __init__(self, app: ASGIApp, resolver: ApiKeyResolver) -> None:
        self.app, self.resolver = app, resolver

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("PUT", "PATCH", "POST"):
            path: str = scope["path"]
            if scope["method"] != "POST" and path.startswith(self.PEOPLE):
                # /employees/{id} and /employees/{id}/separation: the person is {id}
                owner: str | None = path[len(self.PEOPLE) :].strip("/").split("/", 1)[0]
            elif scope["method"] == "POST" and path.startswith(self.IMPORTS):
                owner = None
            else:
                await self.app(scope, receive, send)
                return

            async def changed(message: Message) -> None:
                if message["type"] == "http.response.start" and message["status"] < 300:
                    self.resolver.forget_owner(owner)
                await send(message)

            await self.app(scope, receive, changed)
            return
        if (
            scope["type"] != "http"
            or scope["method"] != "DELETE"
            or not scope["path"].startswith(self.PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        key_id = scope["path"][len(self.PREFIX) :].strip("/")

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 204:
                self.resolver.forget(key_id)
            await send(message)

        await self.app(scope, receive, watch)
