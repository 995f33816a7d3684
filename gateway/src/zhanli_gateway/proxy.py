"""The gateway's hot path: a lean ASGI reverse proxy.

``/api/v1/<service>/...`` goes to the service's upstream with the path unchanged, through
the upstream client of ``zhanli_gateway.upstream`` (bodiless GETs to plain-http upstreams
on its httptools fast lane, everything else on aiohttp; both answer and fail alike). The
caller's token is verified here (and again in the service: defence in depth). Bodies are
streamed both ways, never buffered whole.

Failures are problem+json: 502 (upstream refused or broke), 503 (breaker open), 504
(upstream too slow). Idempotent requests are sent again once when no answer started. Once
the answer's head is on its way to the caller nothing is sent again: a body that breaks
mid-stream ends the caller's connection without its last chunk (a client sees a truncated
body, never a second answer or a problem after the headers).

Each upstream has a circuit breaker: ``breaker_failure_threshold`` failures in a row open
it (503 at once, ``Retry-After`` the time to the next try). Open, it lets one request
through after ``breaker_min_open_s`` (half-open), doubling the wait after each failed try up
to ``breaker_reset_s``; a success closes it. When it opened because the upstream could not
be reached (refused, reset, timeout), the gateway also probes ``/health/live`` every
``breaker_probe_interval_s`` and closes it as soon as the upstream answers: a service the
supervisor restarted gets its traffic back within that interval, however long it was down.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable

import structlog
from starlette.types import Receive, Scope, Send

from zhanli_gateway.upstream import (
    AiohttpLane,
    FastLane,
    Headers,
    RequestBody,
    UpstreamBroken,
    UpstreamError,
    UpstreamResponse,
    UpstreamTimeout,
)
from zhanli_shared.auth import TokenVerifier
from zhanli_shared.errors import ProblemAnswer, ProblemError, send_problem
from zhanli_shared.observability import current_request_id

log = structlog.get_logger("zhanli.proxy")

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"host",
        b"content-length",
    }
)
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
SMALL_BODY = 64 * 1024
PROBE_PATH = b"/health/live"
_WWW_AUTHENTICATE = [(b"www-authenticate", b"Bearer")]


class CircuitBreaker:
    """Closed until ``threshold`` failures in a row; then open: one request may try after
    ``min_open_s`` (half-open), and each failed try doubles the wait up to ``max_open_s``.
    A success closes it. ``down``: the last failure was a connection failure (the gateway
    then probes the upstream's health while it is open)."""

    __slots__ = (
        "clock",
        "down",
        "failures",
        "max_open_s",
        "min_open_s",
        "open_for",
        "retry_at",
        "threshold",
        "trial",
    )

    def __init__(
        self,
        threshold: int,
        max_open_s: float,
        min_open_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.max_open_s = max_open_s
        self.min_open_s = min(min_open_s, max_open_s)
        self.clock = clock
        self.failures = 0
        self.open_for = self.min_open_s
        self.retry_at = 0.0
        self.trial = False
        self.down = False

    @property
    def is_open(self) -> bool:
        return self.failures >= self.threshold

    def allow(self) -> bool:
        if self.failures < self.threshold:
            return True
        now = self.clock()
        if now < self.retry_at:
            return False
        # half-open: this request is the try; the next one only after another wait
        self.retry_at = now + self.open_for
        self.trial = True
        return True

    def success(self) -> None:
        self.failures = 0
        self.open_for = self.min_open_s
        self.trial = self.down = False

    def failure(self, *, down: bool = False) -> None:
        self.failures += 1
        self.down = down
        now = self.clock()
        if self.failures == self.threshold:
            self.open_for = self.min_open_s
            self.retry_at = now + self.open_for
            self.trial = False
        elif self.failures > self.threshold and self.trial:  # the try failed: wait longer
            self.trial = False
            self.open_for = min(self.open_for * 2, self.max_open_s)
            self.retry_at = now + self.open_for

    def retry_after_s(self) -> int:
        return max(1, math.ceil(self.retry_at - self.clock()))

    @property
    def state(self) -> str:
        if self.failures < self.threshold:
            return "closed"
        return "half-open" if self.clock() >= self.retry_at else "open"


class ProxyApp:
    def __init__(
        self,
        upstreams: dict[str, str],
        *,
        verifier: TokenVerifier | None,
        connect_timeout_s: float = 2.0,
        read_timeout_s: float = 30.0,
        max_connections: int = 256,
        breaker_threshold: int = 5,
        breaker_reset_s: float = 10.0,
        breaker_min_open_s: float = 0.5,
        breaker_probe_interval_s: float = 0.5,
        routes: dict[str, str] | None = None,
        public_paths: frozenset[str] = frozenset(),
        local_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.upstreams = {name: url.rstrip("/") for name, url in upstreams.items()}
        # /api/v1/<segment>/ served by an upstream of another name (the people service's
        # directory and auth, the audit service's webhooks); a route to an upstream not
        # configured is ignored. The gateway's own paths (local_paths) are never proxied;
        # public paths (sign-in) go on without a token.
        self.routes = {
            segment: name for segment, name in (routes or {}).items() if name in self.upstreams
        }
        self.verifier = verifier
        self.public_paths = public_paths
        self.local_paths = local_paths
        self.breakers = {
            name: CircuitBreaker(breaker_threshold, breaker_reset_s, breaker_min_open_s)
            for name in self.upstreams
        }
        self.probe_interval_s = breaker_probe_interval_s
        self.probes: dict[str, asyncio.Task[None]] = {}
        self.fast = FastLane(
            limit=max_connections,
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
        )
        self.aio = AiohttpLane(
            limit=max_connections,
            connect_timeout_s=connect_timeout_s,
            read_timeout_s=read_timeout_s,
        )
        self.fast_ok = {
            name: self.fast.target(base) is not None for name, base in self.upstreams.items()
        }
        self.unavailable = {
            name: ProblemAnswer(
                503,
                "Service unavailable",
                f"The {name} service is failing; retry shortly.",
                code="upstream-unavailable",
            )
            for name in self.upstreams
        }

    @property
    def started(self) -> bool:
        return self.aio.session is not None

    async def start(self) -> None:
        self.fast.closing = False
        await self.aio.start()

    async def close(self) -> None:
        for task in self.probes.values():
            task.cancel()
        for task in list(self.probes.values()):
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self.probes.clear()
        await self.fast.close()
        await self.aio.close()

    def client_for(self, method: str, base: str, body: RequestBody) -> FastLane | AiohttpLane:
        return self.fast if self.fast.takes(method, base, body) else self.aio

    def service_of(self, path: str) -> str | None:
        parts = path.split("/", 4)  # '', 'api', 'v1', '<service>', rest
        if len(parts) >= 4 and parts[1] == "api" and parts[2] == "v1":
            if parts[3] in self.upstreams:
                return parts[3]
            routed = self.routes.get(parts[3])
            if routed is not None and path not in self.local_paths:
                return routed
        return None

    # --- the breaker and its probe
    def failed(self, service: str, *, down: bool) -> None:
        breaker = self.breakers[service]
        breaker.failure(down=down)
        if down and breaker.is_open and service not in self.probes:
            self.probes[service] = asyncio.get_running_loop().create_task(self._probe(service))

    async def _probe(self, service: str) -> None:
        """While the breaker of an unreachable upstream is open: ``GET /health/live`` every
        ``probe_interval_s``; any answer below 500 closes the breaker."""
        breaker = self.breakers[service]
        base = self.upstreams[service]
        try:
            while breaker.is_open and breaker.down:
                await asyncio.sleep(self.probe_interval_s)
                try:
                    async with asyncio.timeout(max(2.0, self.probe_interval_s)):
                        resp = await self.client_for("GET", base, None).request(
                            "GET", base, PROBE_PATH, [], None
                        )
                        try:
                            await resp.read()
                        finally:
                            resp.close()
                except (TimeoutError, UpstreamError, OSError) as exc:
                    log.debug("proxy.probe_failed", service=service, error=repr(exc))
                    continue
                if resp.status < 500 and breaker.is_open:
                    log.info("proxy.upstream_back", service=service)
                    breaker.success()
        finally:
            if self.probes.get(service) is asyncio.current_task():
                del self.probes[service]

    # --- a request
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        service = self.service_of(scope["path"])
        assert service is not None
        # One pass over the request headers: the ones to forward, the token and the body
        # length.
        headers: Headers = []
        auth = None
        length: int | None = None
        for name, value in scope["headers"]:
            if name in HOP_BY_HOP:
                if name == b"content-length" and length is None:
                    length = int(value)
                continue
            if name == b"authorization":
                auth = value
            headers.append((name, value))
        if self.verifier is not None and scope["path"] not in self.public_paths:
            try:
                scheme, _, token = (auth or b"").decode("latin-1").partition(" ")
                if scheme.lower() != "bearer" or not token:
                    raise ProblemError("Send 'Authorization: Bearer <token>'.")
                self.verifier.verify(token.strip())  # a dict lookup for a known token
            except ProblemError as exc:
                await send_problem(
                    send,
                    401,
                    "Authentication required",
                    exc.detail,
                    code="unauthorized",
                    headers=_WWW_AUTHENTICATE,
                )
                return
        rid = current_request_id()
        if rid:
            headers.append((b"x-request-id", rid.encode("latin-1")))
        client = scope.get("client")
        if client:
            headers.append((b"x-forwarded-for", client[0].encode("latin-1")))
        breaker = self.breakers[service]
        if not breaker.allow():
            retry = str(breaker.retry_after_s()).encode()
            await self.unavailable[service].send(send, [(b"retry-after", retry)])
            return
        base = self.upstreams[service]
        target = scope["raw_path"]
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        method = scope["method"]
        body = await self._request_body(scope, receive, length)
        attempts = 2 if method in IDEMPOTENT and not callable(body) else 1
        upstream: FastLane | AiohttpLane = (
            self.fast if body is None and method == "GET" and self.fast_ok[service] else self.aio
        )
        for attempt in range(1, attempts + 1):
            try:
                resp = await upstream.request(method, base, target, headers, body)
                if resp.status < 500:
                    breaker.success()
                else:
                    breaker.failure()
                await self._relay(service, resp, send)
                return
            except UpstreamTimeout:
                self.failed(service, down=True)
                log.warning("proxy.timeout", service=service)
                await send_problem(
                    send,
                    504,
                    "Gateway timeout",
                    f"The {service} service did not answer in time.",
                    code="upstream-timeout",
                )
                return
            except UpstreamError as exc:  # nothing was sent to the caller yet
                if attempt == attempts:
                    self.failed(service, down=not isinstance(exc, UpstreamBroken))
                    log.warning("proxy.upstream_error", service=service, error=repr(exc))
                    await send_problem(
                        send,
                        502,
                        "Bad gateway",
                        f"The {service} service is unreachable.",
                        code="upstream-unreachable",
                    )
                    return

    async def _relay(self, service: str, resp: UpstreamResponse, send: Send) -> None:
        """Send the upstream's answer on. Raises ``UpstreamError`` only while nothing was
        sent (the caller may then get a retry or a problem); once the head is sent, a body
        that fails ends the answer without its last message: the server closes the
        connection and the caller sees a truncated body."""
        try:
            # One pass over the raw response headers; Content-Length is kept (as received)
            # and decides between one read and streaming.
            headers = []
            length: bytes | None = None
            for k, v in resp.headers:
                lk = k.lower()
                if lk in HOP_BY_HOP:
                    if lk == b"content-length" and length is None:
                        length = v
                    continue
                headers.append((k, v))
            body = resp.body
            if length is not None:
                headers.append((b"content-length", length))
                if body is None and int(length) <= SMALL_BODY:
                    body = await resp.read()  # small: read whole (still retryable)
            if body is not None:
                await send(
                    {"type": "http.response.start", "status": resp.status, "headers": headers}
                )
                if length is not None:
                    await send({"type": "http.response.body", "body": body})
                    return
                if body:
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
                return
            await send({"type": "http.response.start", "status": resp.status, "headers": headers})
            try:
                async for chunk in resp.chunks():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except UpstreamError as exc:
                # The head is gone: no second answer, no problem after it. Return without
                # the last body message: the server aborts the connection.
                self.failed(service, down=isinstance(exc, UpstreamTimeout))
                log.warning("proxy.upstream_broke_mid_body", service=service, error=repr(exc))
                return
            await send({"type": "http.response.body", "body": b""})
        finally:
            resp.close()

    async def _request_body(
        self, scope: Scope, receive: Receive, length: int | None
    ) -> RequestBody:
        """Small bodies are read at once (they can be retried); large or unknown-length
        bodies are streamed to the upstream as they arrive."""
        if not length and scope["method"] in ("GET", "HEAD"):
            return None
        if length is not None and length <= SMALL_BODY:
            message = await receive()
            first = message.get("body", b"")
            if not message.get("more_body", False):
                return first  # the usual case: the whole small body in one message
            chunks = [first]
            more = True
            while more:
                message = await receive()
                chunks.append(message.get("body", b""))
                more = message.get("more_body", False)
            return b"".join(chunks)

        async def stream() -> AsyncIterator[bytes]:
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                if chunk:
                    yield chunk
                more = message.get("more_body", False)

        return stream


class GatewayApp:
    """Routes proxied paths straight to the proxy and everything else to FastAPI."""

    def __init__(self, api: object, proxy: ProxyApp, proxied: object) -> None:
        self.api = api
        self.proxy = proxy
        self.proxied = proxied

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.proxy.service_of(scope["path"]) is not None:
            await self.proxied(scope, receive, send)  # type: ignore[operator]
            return
        await self.api(scope, receive, send)  # type: ignore[operator]


async def check_upstream(proxy: ProxyApp, name: str) -> str:
    """The readiness of one upstream (its ``/health/ready``), for the gateway's own."""
    base = proxy.upstreams[name]
    try:
        async with asyncio.timeout(2.0):
            resp = await proxy.client_for("GET", base, None).request(
                "GET", base, b"/health/ready", [], None
            )
            try:
                await resp.read()
            finally:
                resp.close()
    except (TimeoutError, UpstreamError, OSError):
        return "unreachable"
    return "ok" if resp.status == 200 else f"not_ready ({resp.status})"
