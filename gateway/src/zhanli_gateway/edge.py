"""The gateway's edge protections: one pure ASGI middleware around the whole gateway.

In this order, before anything reaches FastAPI or the proxy:

1. **CORS** for the admin console. A preflight (``OPTIONS`` with ``Origin`` and
   ``Access-Control-Request-Method``) is answered here and never reaches an upstream:
   204 with the allow headers for an allowed origin, 403 for any other. Other responses to
   an allowed origin carry ``Access-Control-Allow-Origin: <that origin>`` (never ``*`` with
   credentials: the settings refuse that combination); other origins get nothing.
2. **Rate limits**: a token bucket (rate per second, burst) per caller. The caller is the
   subject of a *verified* bearer token (the gateway's ``TokenVerifier``, whose cache makes
   a known token a dict lookup; an unverified ``sub`` is never trusted), in the integration
   class when it holds the ``integration`` role; else the hash of an API key
   (``X-API-Key`` or ``Authorization: ApiKey``: keys are verified behind this middleware,
   by ``apikeys.resolver``; a key it has verified before counts as its subject
   ``apikey:<key_id>``, like the tokens issued for it, in the user or integration class;
   any other key gets the user limits in a store of its own); else the client IP
   (anonymous class). The login paths always count
   per client IP in a stricter class of their own (password guessing), whatever the request
   carries. Health and metrics paths are exempt (probes must never be throttled). Over the
   limit: 429 problem+json with ``Retry-After``; every limited response carries
   ``RateLimit-Limit`` and ``RateLimit-Remaining`` (IETF draft names).

   The buckets live in this process: with N gateway replicas each enforces its own share,
   so a caller spread over them gets up to N times the figures (a Redis-backed store is the
   next step). Memory is bounded: each class keeps at most ``rate_limit_max_buckets``
   buckets, least recently seen evicted first, and a bucket idle long enough to be full
   again is dropped early (forgetting it changes nothing). The client IP is
   ``scope["client"]``: behind an ingress, set uvicorn's ``FORWARDED_ALLOW_IPS`` to the
   ingress addresses or every caller shares the ingress's bucket.
3. **Body size**: a ``Content-Length`` over the limit (``body_limit_bytes``, or the longest
   matching prefix of ``body_limit_by_path``) is refused with 413 before a byte is read. A
   body without a length (chunked) is counted as it streams through, never buffered: once
   over the limit the app's next ``receive()`` raises, whatever the app answers is dropped
   and the caller gets 413 (the upstream sees an aborted request, not a truncated one).
4. **Security headers** on every response, this middleware's own included:
   ``Strict-Transport-Security`` (``hsts_enabled``), ``X-Content-Type-Options: nosniff``,
   ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer``, ``Content-Security-Policy:
   default-src 'none'; frame-ancestors 'none'`` and ``Cache-Control: no-store`` unless the
   response set its own. ``/docs`` and ``/redoc`` get ``docs_csp`` instead, which lets
   Swagger UI / ReDoc load from their CDN (an air-gapped install cannot reach the CDN
   anyway; set ``docs_csp`` empty to keep the strict policy there too).

The per-request work is a pass over the request headers, a dict lookup in the verifier's
cache, one bucket update and one header list per response (measured in test_edge.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from prometheus_client import Counter
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zhanli_gateway.settings import GatewaySettings
from zhanli_shared.auth import TokenVerifier
from zhanli_shared.errors import ProblemAnswer

API_CSP = b"default-src 'none'; frame-ancestors 'none'"
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
INTEGRATION_ROLE = "integration"
_BEARER = (b"Bearer ", b"bearer ", b"BEARER ")
_NO_STORE = (b"cache-control", b"no-store")
_VARY_ORIGIN = (b"vary", b"Origin")
_EXPOSE = (
    b"access-control-expose-headers",
    b"RateLimit-Limit, RateLimit-Remaining, Retry-After, X-Request-Id",
)
_CREDENTIALS = (b"access-control-allow-credentials", b"true")

rejected = Counter(
    "zhanli_gateway_edge_rejected_total",
    "Requests the gateway's edge answered itself with an error",
    ["reason", "caller_class"],
)


class TokenBucket:
    """Token buckets for one class of callers: ``rate`` tokens a second up to ``burst``.

    ``take(key)`` spends one token of ``key``'s bucket. It returns the tokens left (>= 0)
    when the request may go, else minus the seconds until a token is back (< 0). One float,
    no tuple: this is on every request. At most ``max_buckets`` keys are kept (LRU).
    """

    __slots__ = (
        "_buckets",
        "burst",
        "clock",
        "idle_s",
        "limit_header",
        "max_buckets",
        "name",
        "rate",
    )

    def __init__(
        self,
        name: str,
        rate: float,
        burst: int,
        *,
        max_buckets: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1 or max_buckets < 1:
            raise ValueError(f"rate limit {name}: rate > 0, burst >= 1 and max_buckets >= 1")
        self.name = name
        self.rate = float(rate)
        self.burst = float(burst)
        self.max_buckets = max_buckets
        self.clock = clock
        # A bucket untouched this long is full again: dropping it changes nothing.
        self.idle_s = self.burst / self.rate
        self.limit_header = str(int(burst)).encode()
        # key -> [tokens, last update]; least recently used first.
        self._buckets: OrderedDict[Any, list[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: Any) -> float:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            self._make_room(now)
            self._buckets[key] = [self.burst - 1.0, now]
            return self.burst - 1.0
        self._buckets.move_to_end(key)
        tokens = bucket[0] + (now - bucket[1]) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return tokens - 1.0
        bucket[0] = tokens
        return (tokens - 1.0) / self.rate  # minus the wait for the next token

    def _make_room(self, now: float) -> None:
        buckets = self._buckets
        # Oldest first: stop at the first bucket that is not idle-full (none after it is).
        while buckets:
            oldest = next(iter(buckets))
            if now - buckets[oldest][1] < self.idle_s:
                break
            del buckets[oldest]
        while len(buckets) >= self.max_buckets:
            buckets.popitem(last=False)


class ApiKeyPeek(Protocol):
    def peek(self, raw: bytes) -> tuple[str, frozenset[str]] | None:
        """(subject, roles) of a key verified before (cached, no I/O), else None."""


class BodyTooLarge(HTTPException):
    """Raised from ``receive()`` once a streamed body passes its limit (an HTTPException, so
    FastAPI answers it as a client error rather than logging a crash)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body is larger than {limit} bytes.")


_RATE_LIMITED = ProblemAnswer(
    429,
    "Too many requests",
    "Rate limit exceeded; retry after Retry-After seconds.",
    code="rate-limited",
)
_ORIGIN_REFUSED = ProblemAnswer(
    403,
    "Origin not allowed",
    "This origin may not call the API from a browser.",
    code="cors-origin",
)
_BAD_LENGTH = ProblemAnswer(
    400, "Bad request", "Content-Length is not a number.", code="bad-request"
)


class EdgeMiddleware:
    """CORS, rate limits, body size limits and security headers (see the module doc)."""

    def __init__(
        self,
        app: ASGIApp,
        settings: GatewaySettings,
        *,
        verifier: TokenVerifier | None = None,
        api_keys: ApiKeyPeek | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        s = settings
        self.app = app
        self.verifier = verifier
        self.api_key_roles = api_keys.peek if api_keys is not None else None
        # --- rate limits
        self.rate_limit = s.rate_limit_enabled
        cap = s.rate_limit_max_buckets
        self.users = TokenBucket(
            "user", s.rate_limit_user_per_s, s.rate_limit_user_burst, max_buckets=cap, clock=clock
        )
        self.integration = TokenBucket(
            "integration",
            s.rate_limit_integration_per_s,
            s.rate_limit_integration_burst,
            max_buckets=cap,
            clock=clock,
        )
        self.api_keys = TokenBucket(
            "api_key",
            s.rate_limit_user_per_s,
            s.rate_limit_user_burst,
            max_buckets=cap,
            clock=clock,
        )
        self.anonymous = TokenBucket(
            "anonymous",
            s.rate_limit_anonymous_per_s,
            s.rate_limit_anonymous_burst,
            max_buckets=cap,
            clock=clock,
        )
        self.login = TokenBucket(
            "login",
            s.rate_limit_login_per_s,
            s.rate_limit_login_burst,
            max_buckets=cap,
            clock=clock,
        )
        self.login_paths = tuple(s.rate_limit_login_paths)
        self.exempt_paths = tuple(s.rate_limit_exempt_paths)
        self.special_paths = self.login_paths + self.exempt_paths
        biggest = max(
            s.rate_limit_user_burst,
            s.rate_limit_integration_burst,
            s.rate_limit_anonymous_burst,
            s.rate_limit_login_burst,
        )
        self._numbers = tuple(str(i).encode() for i in range(min(biggest, 10_000) + 1))
        # --- body size
        self.body_limit = s.body_limit_bytes
        self.body_limits = tuple(
            sorted(s.body_limit_by_path.items(), key=lambda item: len(item[0]), reverse=True)
        )
        # --- CORS
        origins = {o.strip().rstrip("/").lower() for o in s.cors_allowed_origins if o.strip()}
        self.cors_any = "*" in origins
        if self.cors_any and s.cors_allow_credentials:
            raise ValueError("cors_allowed_origins '*' cannot be combined with credentials")
        self.cors_enabled = bool(origins)
        self.cors_origins = frozenset(o.encode() for o in origins if o != "*")
        self.cors_credentials = s.cors_allow_credentials
        self.cors_simple: tuple[tuple[bytes, bytes], ...] = (_EXPOSE,) + (
            (_CREDENTIALS,) if s.cors_allow_credentials else ()
        )
        self.preflight_headers: tuple[tuple[bytes, bytes], ...] = (
            (b"access-control-allow-methods", ", ".join(s.cors_allow_methods).encode()),
            (b"access-control-allow-headers", ", ".join(s.cors_allow_headers).encode()),
            (b"access-control-max-age", str(s.cors_max_age_s).encode()),
            *((_CREDENTIALS,) if s.cors_allow_credentials else ()),
        )
        # --- security headers
        security = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
        ]
        if s.hsts_enabled:
            security.append(
                (
                    b"strict-transport-security",
                    f"max-age={s.hsts_max_age_s}; includeSubDomains".encode(),
                )
            )
        self.security = tuple(security)
        self.api_csp = (b"content-security-policy", API_CSP)
        self.docs_csp = (b"content-security-policy", (s.docs_csp or API_CSP.decode()).encode())
        # What most responses get (no CSP or Cache-Control of their own): one tuple to add.
        self.api_tail = (*self.security, self.api_csp, _NO_STORE)
        self.docs_tail = (*self.security, self.docs_csp, _NO_STORE)

    def __getattr__(self, name: str) -> Any:
        """``.api``, ``.proxy`` ... of the wrapped GatewayApp (tooling reaches ``.api.state``
        through it). Only called for names this object does not have: not on the hot path."""
        if name == "app":
            raise AttributeError(name)
        return getattr(self.app, name)

    def _number(self, n: int) -> bytes:
        numbers = self._numbers
        return numbers[n] if n < len(numbers) else str(n).encode()

    def body_limit_for(self, path: str) -> int:
        for prefix, limit in self.body_limits:
            if path.startswith(prefix):
                return limit
        return self.body_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        auth = api_key = length = origin = preflight = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                auth = value
            elif name == b"content-length":
                length = value
            elif name == b"origin":
                origin = value
            elif name == b"x-api-key":
                api_key = value
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"access-control-request-method":
                preflight = value

        # --- what every response gets: security headers, CORS, rate-limit state
        if path in DOCS_PATHS:
            csp, tails = self.docs_csp, self.docs_tail
        else:
            csp, tails = self.api_csp, self.api_tail
        allowed_origin: bytes | None = None
        if origin is not None and self.cors_enabled:
            if origin in self.cors_origins:
                allowed_origin = origin
            elif self.cors_any:
                allowed_origin = b"*"
        limit_header: bytes | None = None
        remaining_header = b"0"

        async def edge_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers") or ()
                has_cache_control = has_csp = False
                for name, _ in headers:
                    size = len(name)
                    if size == 13 and name.lower() == b"cache-control":
                        has_cache_control = True
                    elif size == 23 and name.lower() == b"content-security-policy":
                        has_csp = True
                if has_csp or has_cache_control:
                    tail = (
                        *self.security,
                        *(() if has_csp else (csp,)),
                        *(() if has_cache_control else (_NO_STORE,)),
                    )
                else:
                    tail = tails
                headers = [*headers, *tail]
                if origin is not None and self.cors_enabled:
                    headers.append(_VARY_ORIGIN)
                    if allowed_origin is not None:
                        headers.append((b"access-control-allow-origin", allowed_origin))
                        headers.extend(self.cors_simple)
                if limit_header is not None:
                    headers.append((b"ratelimit-limit", limit_header))
                    headers.append((b"ratelimit-remaining", remaining_header))
                message["headers"] = headers
            await send(message)

        # --- 1. CORS preflight: answered here, never forwarded
        if preflight is not None and origin is not None and scope["method"] == "OPTIONS":
            if allowed_origin is None:
                rejected.labels("cors_origin", "anonymous").inc()
                await _ORIGIN_REFUSED.send(edge_send)
                return
            await edge_send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": list(self.preflight_headers),
                }
            )
            await edge_send({"type": "http.response.body", "body": b""})
            return

        # --- 2. rate limits
        special = path.startswith(self.special_paths)  # one test for the common case
        if self.rate_limit and not (special and path.startswith(self.exempt_paths)):
            bucket: TokenBucket
            key: Any = None
            if special and path.startswith(self.login_paths):
                bucket = self.login
            else:
                bucket = self.anonymous
                if auth is not None and self.verifier is not None and auth.startswith(_BEARER):
                    try:
                        principal = self.verifier.verify(auth[7:].decode("latin-1").strip())
                    except Exception:  # not valid: the request counts as anonymous
                        principal = None
                    if principal is not None:
                        key = principal.subject
                        bucket = (
                            self.integration if INTEGRATION_ROLE in principal.roles else self.users
                        )
                elif auth is not None and auth[:7].lower() == b"apikey ":
                    api_key = auth[7:]
                if key is None and api_key is not None:
                    known = self.api_key_roles(api_key) if self.api_key_roles else None
                    if known is not None:  # verified before: one bucket with its tokens
                        key, roles = known
                        bucket = self.integration if INTEGRATION_ROLE in roles else self.users
                    else:
                        key = hashlib.blake2b(api_key.strip(), digest_size=16).digest()
                        bucket = self.api_keys
            if key is None:
                client = scope.get("client")
                key = client[0] if client else ""
            left = bucket.take(key)
            limit_header = bucket.limit_header
            if left < 0:
                rejected.labels("rate_limited", bucket.name).inc()
                retry = self._number(max(1, math.ceil(-left)))
                await _RATE_LIMITED.send(edge_send, [(b"retry-after", retry)])
                return
            remaining_header = self._number(int(left))

        # --- 3. body size
        limit = self.body_limit_for(path) if self.body_limits else self.body_limit
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _BAD_LENGTH.send(edge_send)
                return
            if declared > limit:
                rejected.labels("too_large", "any").inc()
                await self._too_large(limit).send(edge_send)
                return
        elif chunked or scope["method"] in BODY_METHODS:
            await self._call_counting(scope, receive, edge_send, limit)
            return

        await self.app(scope, receive, edge_send)

    @staticmethod
    def _too_large(limit: int) -> ProblemAnswer:
        return ProblemAnswer(
            413,
            "Request body too large",
            f"The request body is larger than {limit} bytes.",
            code="payload-too-large",
        )

    async def _call_counting(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Run the app on a body of unknown length, counting it as it streams through.

        Once over the limit the app is cancelled (it runs as a task of its own for this) and
        its ``receive()`` raises: the proxy then aborts the upstream request (the upstream
        sees a broken request, never a complete truncated one) and, being cancelled rather
        than failing, does not count it against the upstream's circuit breaker. Whatever the
        app still sends is dropped; the caller gets 413."""
        received = 0
        exceeded = False
        started = False
        task: asyncio.Future[None]

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    task.cancel()
                    raise BodyTooLarge(limit)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:  # the app's answer to an aborted body: replaced by 413 below
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        task = asyncio.ensure_future(self.app(scope, counting_receive, guarded_send))
        try:
            await task
        except (Exception, asyncio.CancelledError):
            # ours when over the limit; anything else (our own cancellation too) goes on
            if not exceeded or not task.done():
                raise
        if exceeded:
            rejected.labels("too_large", "any").inc()
            if not started:
                await self._too_large(limit).send(send)
