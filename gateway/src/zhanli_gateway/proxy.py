"""The gateway's hot path: a lean ASGI reverse proxy on a pooled aiohttp client.

``/api/v1/<service>/...`` goes to the service's upstream with the path unchanged (bodiless
GETs to plain-http upstreams on the fast lane of ``zhanli_gateway.upstream``, everything
else through aiohttp; both answer and fail alike). The
caller's token is verified here (and again in the service: defence in depth). Bodies are
streamed both ways, never buffered whole. Idempotent requests are retried once on a
connection failure; an upstream that keeps failing opens its circuit breaker.
Failures are problem+json: 502 (upstream refused or broke), 503 (breaker open),
504 (upstream too slow).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
import orjson
import structlog
from starlette.types import Receive, Scope, Send

from zhanli_gateway.upstream import Body, UpstreamPool
from zhanli_shared.auth import TokenVerifier
from zhanli_shared.errors import PROBLEM_BASE, PROBLEM_JSON, ProblemError
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


@dataclass
class CircuitBreaker:
    threshold: int
    reset_s: float
    failures: int = 0
    opened_at: float = 0.0

    def allow(self) -> bool:
        if self.failures < self.threshold:
            return True
        return time.monotonic() - self.opened_at >= self.reset_s  # half-open: one try

    def success(self) -> None:
        self.failures = 0

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = time.monotonic()

    @property
    def state(self) -> str:
        if self.failures < self.threshold:
            return "closed"
        return "half-open" if self.allow() else "open"


async def send_problem(
    send: Send,
    status: int,
    title: str,
    detail: str,
    code: str,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = orjson.dumps(
        {"type": PROBLEM_BASE + code, "title": title, "status": status, "detail": detail}
    )
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()),
        *(extra_headers or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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
    ) -> None:
        self.upstreams = {name: url.rstrip("/") for name, url in upstreams.items()}
        self.verifier = verifier
        self.timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout_s, sock_read=read_timeout_s
        )
        self.max_connections = max_connections
        self.breakers = {
            name: CircuitBreaker(breaker_threshold, breaker_reset_s) for name in self.upstreams
        }
        self.session: aiohttp.ClientSession | None = None
        # The fast lane (zhanli_gateway.upstream) for plain-http upstreams: (host, port,
        # b"Host: ..." line) per service.
        self.fast_targets: dict[str, tuple[str, int, bytes]] = {}
        for name, base in self.upstreams.items():
            parsed = urlsplit(base)
            if parsed.scheme == "http" and parsed.hostname and not parsed.path:
                port = parsed.port or 80
                self.fast_targets[name] = (
                    parsed.hostname,
                    port,
                    b"Host: " + parsed.netloc.encode("latin-1") + b"\r\n",
                )
        self.fast: UpstreamPool | None = None

    async def start(self) -> None:
        self.fast = UpstreamPool(
            limit=self.max_connections,
            connect_timeout_s=self.timeout.connect,
            read_timeout_s=self.timeout.sock_read,
        )
        connector = aiohttp.TCPConnector(
            limit=self.max_connections,
            limit_per_host=0,
            ttl_dns_cache=300,
            keepalive_timeout=60,
            enable_cleanup_closed=True,
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            timeout=self.timeout,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )

    async def close(self) -> None:
        if self.fast is not None:
            self.fast.close()
            self.fast = None
        if self.session is not None:
            await self.session.close()
            self.session = None

    def service_of(self, path: str) -> str | None:
        parts = path.split("/", 4)  # '', 'api', 'v1', '<service>', rest
        if (
            len(parts) >= 4
            and parts[1] == "api"
            and parts[2] == "v1"
            and parts[3] in self.upstreams
        ):
            return parts[3]
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        service = self.service_of(scope["path"])
        assert service is not None and self.session is not None
        # One pass over the request headers: the ones to forward (as str, what aiohttp
        # wants), the token and the body length.
        headers: list[tuple[str, str]] = []
        auth = None
        length: int | None = None
        for name, value in scope["headers"]:
            if name in HOP_BY_HOP:
                if name == b"content-length" and length is None:
                    length = int(value)
                continue
            if name == b"authorization":
                auth = value
            headers.append((name.decode("latin-1"), value.decode("latin-1")))
        if self.verifier is not None:
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
                    "unauthorized",
                    [(b"www-authenticate", b"Bearer")],
                )
                return
        rid = current_request_id()
        if rid:
            headers.append(("x-request-id", rid))
        client = scope.get("client")
        if client:
            headers.append(("x-forwarded-for", client[0]))
        breaker = self.breakers[service]
        if not breaker.allow():
            await send_problem(
                send,
                503,
                "Service unavailable",
                f"The {service} service is failing; retry shortly.",
                "upstream-unavailable",
                [(b"retry-after", b"5")],
            )
            return
        url = self.upstreams[service] + scope["raw_path"].decode("latin-1")
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        method = scope["method"]
        body = await self._request_body(scope, receive, length)
        attempts = 2 if method in IDEMPOTENT and not callable(body) else 1
        head = self._fast_head(service, method, body, scope, headers)
        for attempt in range(1, attempts + 1):
            try:
                if head is not None:
                    assert self.fast is not None
                    host, port, _ = self.fast_targets[service]
                    status, raw_headers, content = await self.fast.request(host, port, head)
                    breaker.success() if status < 500 else breaker.failure()
                    await self._relay_fast(status, raw_headers, content, send)
                    return
                data = body() if callable(body) else body
                async with self.session.request(
                    method, url, headers=headers, data=data, allow_redirects=False
                ) as resp:
                    breaker.success() if resp.status < 500 else breaker.failure()
                    await self._relay_response(resp, send)
                    return
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
                if isinstance(exc, aiohttp.ServerTimeoutError):
                    breaker.failure()
                    log.warning("proxy.timeout", service=service)
                    await send_problem(
                        send,
                        504,
                        "Gateway timeout",
                        f"The {service} service did not answer in time.",
                        "upstream-timeout",
                    )
                    return
                if attempt == attempts:
                    breaker.failure()
                    log.warning("proxy.upstream_error", service=service, error=repr(exc))
                    await send_problem(
                        send,
                        502,
                        "Bad gateway",
                        f"The {service} service is unreachable.",
                        "upstream-unreachable",
                    )
                    return
            except TimeoutError:
                breaker.failure()
                await send_problem(
                    send,
                    504,
                    "Gateway timeout",
                    f"The {service} service did not answer in time.",
                    "upstream-timeout",
                )
                return

    def _fast_head(
        self,
        service: str,
        method: str,
        body: object,
        scope: Scope,
        headers: list[tuple[str, str]],
    ) -> bytes | None:
        """The request line and headers for the fast lane, or None: only bodiless GETs to
        plain-http upstreams take it (the rest goes through aiohttp)."""
        target = self.fast_targets.get(service)
        if target is None or self.fast is None or method != "GET" or body is not None:
            return None
        parts = [b"GET ", scope["raw_path"]]
        if scope.get("query_string"):
            parts += [b"?", scope["query_string"]]
        parts += [b" HTTP/1.1\r\n", target[2]]
        accept = False
        for name, value in headers:
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                return None  # never on a valid request: aiohttp refuses it as before
            if not accept and name.lower() == "accept":
                accept = True
            parts += [name.encode("latin-1"), b": ", value.encode("latin-1"), b"\r\n"]
        if not accept:
            parts.append(b"Accept: */*\r\n")  # what aiohttp adds
        parts.append(b"\r\n")
        return b"".join(parts)

    @staticmethod
    async def _relay_fast(
        status: int,
        raw_headers: list[tuple[bytes, bytes]],
        content: Body | bytes,
        send: Send,
    ) -> None:
        """``_relay_response`` for the fast lane: the same headers, bodies alike."""
        headers = []
        length: bytes | None = None
        for k, v in raw_headers:
            lk = k.lower()
            if lk in HOP_BY_HOP:
                if lk == b"content-length" and length is None:
                    length = v
                continue
            headers.append((k, v))
        if isinstance(content, bytes):
            if length is not None:
                headers.append((b"content-length", length))
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": content})
                return
            await send({"type": "http.response.start", "status": status, "headers": headers})
            if content:
                await send({"type": "http.response.body", "body": content, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        try:
            if length is not None:
                headers.append((b"content-length", length))
                if int(length) <= SMALL_BODY:
                    body = b"".join([chunk async for chunk in content.chunks()])
                    await send(
                        {"type": "http.response.start", "status": status, "headers": headers}
                    )
                    await send({"type": "http.response.body", "body": body})
                    return
            await send({"type": "http.response.start", "status": status, "headers": headers})
            async for chunk in content.chunks():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            content.close()

    async def _request_body(  # type: ignore[no-untyped-def]
        self, scope: Scope, receive: Receive, length: int | None
    ):
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

    @staticmethod
    async def _relay_response(resp: aiohttp.ClientResponse, send: Send) -> None:
        # One pass over the raw response headers; Content-Length is kept (as received)
        # and decides between one read and streaming.
        headers = []
        length: bytes | None = None
        for k, v in resp.raw_headers:
            lk = k.lower()
            if lk in HOP_BY_HOP:
                if lk == b"content-length" and length is None:
                    length = v
                continue
            headers.append((k, v))
        if length is not None:
            headers.append((b"content-length", length))
            if int(length) <= SMALL_BODY:
                body = await resp.read()  # small: read whole, sent in one message
                await send(
                    {"type": "http.response.start", "status": resp.status, "headers": headers}
                )
                await send({"type": "http.response.body", "body": body})
                return
        await send({"type": "http.response.start", "status": resp.status, "headers": headers})
        async for chunk in resp.content.iter_chunked(64 * 1024):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


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


async def check_upstream(session: aiohttp.ClientSession, url: str) -> str:
    try:
        async with session.get(url + "/health/ready", timeout=aiohttp.ClientTimeout(total=2)) as r:
            return "ok" if r.status == 200 else f"not_ready ({r.status})"
    except (TimeoutError, aiohttp.ClientError):
        return "unreachable"
