"""The gateway's upstream client: one interface, two implementations.

``UpstreamClient.request(method, base, target, headers, body)`` sends one request to a
service and returns an ``UpstreamResponse`` as soon as its head is in: ``status``, the raw
``headers`` as received, and ``body`` (the whole body when it came with the head, else
None: read it with ``chunks()`` or ``read()``); ``close()`` is always called (idempotent)
and hands the connection back when the body was read to the end, else closes it.

Both implementations fail alike, with this module's exceptions:

- ``UpstreamUnreachable``: no answer started (refused, reset, closed before the status
  line, malformed head); an idempotent request may be sent again.
- ``UpstreamTimeout``: no connection or no data within the timeouts (connect, and each wait
  for data like aiohttp's ``sock_read``).
- ``UpstreamBroken``: the body was cut off (the upstream closed or broke mid-body) or is
  malformed; raised by ``chunks()``/``read()``, after the head.

The implementations:

- ``FastLane``: bodiless GETs on pooled keep-alive HTTP/1.1 connections parsed by httptools
  (what uvicorn parses with), without aiohttp's per-request machinery. The proxy alone
  spent 211-242 us of CPU per GET of a deal with aiohttp, 81-115 us with this (in-process,
  fake upstream, 8 concurrent; tests/bench/bench_gateway.py measures the whole gateway): on
  a small machine every microsecond the gateway spends is taken from the services. Idle
  connections are dropped when the upstream closes them (uvicorn: after 5 s) or on a
  failure; a request on a reused connection the upstream had closed is sent once more on a
  new one (as aiohttp does); at most ``limit`` requests are in flight.
- ``AiohttpLane``: everything else (request bodies, HEAD, https upstreams), on one pooled
  aiohttp session (``session`` is shared with the readiness probes and the docs).

``tests``: gateway/tests/test_upstream_conformance.py runs the same cases against both
(keep-alive expiry, bodies ended by close, chunked, 1xx, a server closing mid-body).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
import httptools
from yarl import URL

_PAUSE_AT = 256 * 1024  # buffered body bytes before the upstream socket stops being read
CHUNK = 64 * 1024

Headers = list[tuple[bytes, bytes]]
RequestBody = bytes | Callable[[], AsyncIterator[bytes]] | None


class UpstreamError(Exception):
    """The upstream failed (see the subclasses)."""


class UpstreamUnreachable(UpstreamError):
    """No answer started: an idempotent request may be sent again."""


class UpstreamTimeout(UpstreamError):
    """No connection or no data in time."""


class UpstreamBroken(UpstreamError):
    """The answer was cut off or malformed after its head."""


class UpstreamResponse(Protocol):
    status: int
    headers: Headers
    body: bytes | None  # the whole body when it came with the head, else None

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (``UpstreamBroken``/``UpstreamTimeout`` when it fails)."""

    async def read(self) -> bytes:
        """The whole body."""

    def close(self) -> None:
        """Always called, idempotent."""


class UpstreamClient(Protocol):
    async def request(
        self, method: str, base: str, target: bytes, headers: Headers, body: RequestBody
    ) -> UpstreamResponse:
        """``method`` ``base`` + ``target`` (raw path and query) with ``headers`` (no Host,
        no hop-by-hop) and ``body``; the response once its head is in."""

    async def close(self) -> None: ...


# --- the fast lane -------------------------------------------------------------------------


class _Connection(asyncio.Protocol):
    """One upstream connection; one request at a time."""

    __slots__ = (
        "body_bytes",
        "chunks",
        "closed",
        "done",
        "error",
        "has_length",
        "headers",
        "headers_done",
        "keep_alive",
        "parser",
        "paused",
        "received",
        "status",
        "transport",
        "waiter",
    )

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.reset()

    def reset(self) -> None:
        self.status = 0
        self.headers: Headers = []
        self.headers_done = False
        self.has_length = False
        self.keep_alive = True
        self.chunks: deque[bytes] = deque()
        self.body_bytes = 0
        self.done = False
        self.paused = False
        self.received = False  # any byte of this request's answer

    # --- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            error = UpstreamBroken if self.headers_done else UpstreamUnreachable
            self._fail(error(f"invalid upstream response: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.headers_done and not self.done and not self.has_length:
            # a body delimited by the end of the connection
            self.done, self.keep_alive = True, False
            self._wake()
        elif not self.done:
            if self.headers_done:
                self._fail(UpstreamBroken("the upstream closed the connection mid-body"))
            else:
                self._fail(UpstreamUnreachable("the upstream closed the connection"))

    # --- httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        lower = name.lower()
        if lower == b"content-length" or (
            lower == b"transfer-encoding" and b"chunked" in value.lower()
        ):
            self.has_length = True

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer: the real one follows
            self.headers = []
            self.has_length = False
            return
        self.status = status
        self.keep_alive = self.parser.should_keep_alive()
        if status in (204, 304):
            self.has_length = True
        self.headers_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.body_bytes += len(body)
        if self.body_bytes > _PAUSE_AT and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if not self.headers_done:  # the end of an interim (1xx) answer
            return
        self.done = True
        self._wake()

    # --- helpers
    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def wait(self, read_timeout_s: float | None) -> None:
        """Until the parser makes progress (or the connection fails)."""
        if self.error is not None:
            raise self.error
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        try:
            if read_timeout_s is None:
                await self.waiter
            else:
                async with asyncio.timeout(read_timeout_s):
                    await self.waiter
        except TimeoutError:
            raise UpstreamTimeout("no data from the upstream in time") from None
        finally:
            self.waiter = None
        if self.error is not None:
            raise self.error


class FastLane:
    """Bodiless GETs to plain-http upstreams (``takes``) on pooled keep-alive connections;
    at most ``limit`` requests in flight."""

    def __init__(
        self, *, limit: int, connect_timeout_s: float | None, read_timeout_s: float | None
    ) -> None:
        self.connect_timeout = connect_timeout_s
        self.read_timeout = read_timeout_s
        self.limit = asyncio.Semaphore(limit)
        self.idle: dict[tuple[str, int], list[_Connection]] = {}
        self.closing = False
        # base URL -> (host, port, b"Host: ...\r\n"), or None when not plain http
        self._targets: dict[str, tuple[str, int, bytes] | None] = {}

    def target(self, base: str) -> tuple[str, int, bytes] | None:
        try:
            return self._targets[base]
        except KeyError:
            parsed = urlsplit(base)
            found = None
            if parsed.scheme == "http" and parsed.hostname and not parsed.path:
                found = (
                    parsed.hostname,
                    parsed.port or 80,
                    b"Host: " + parsed.netloc.encode("latin-1") + b"\r\n",
                )
            self._targets[base] = found
            return found

    def takes(self, method: str, base: str, body: RequestBody) -> bool:
        return method == "GET" and body is None and self.target(base) is not None

    async def _connect(self, host: str, port: int) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(_Connection, host, port)
        except TimeoutError:
            raise UpstreamTimeout(f"connection timeout to {host}:{port}") from None
        except OSError as exc:
            raise UpstreamUnreachable(f"cannot connect to {host}:{port}: {exc}") from exc
        return conn

    def _take(self, key: tuple[str, int]) -> _Connection | None:
        idle = self.idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        return None

    def _give_back(self, key: tuple[str, int], conn: _Connection) -> None:
        if self.closing or conn.closed or not conn.keep_alive or not conn.done or conn.paused:
            conn.close()
            return
        conn.reset()
        self.idle.setdefault(key, []).append(conn)

    @staticmethod
    def head(target: bytes, host_line: bytes, headers: Headers) -> bytes:
        parts = [b"GET ", target, b" HTTP/1.1\r\n", host_line]
        accept = False
        for name, value in headers:
            if b"\r" in value or b"\n" in value or b"\r" in name or b"\n" in name:
                raise ValueError("CR or LF in a header")  # uvicorn never lets one through
            if not accept and name.lower() == b"accept":
                accept = True
            parts += [name, b": ", value, b"\r\n"]
        if not accept:
            parts.append(b"Accept: */*\r\n")  # what aiohttp adds
        parts.append(b"\r\n")
        return b"".join(parts)

    async def request(
        self, method: str, base: str, target: bytes, headers: Headers, body: RequestBody
    ) -> FastResponse:
        found = self.target(base)
        if method != "GET" or body is not None or found is None:
            raise ValueError("the fast lane takes bodiless GETs to plain-http upstreams")
        host, port, host_line = found
        head = self.head(target, host_line, headers)
        key = (host, port)
        await self.limit.acquire()
        conn: _Connection | None = None
        handed_over = False
        try:
            conn = self._take(key)
            reused = conn is not None
            if conn is None:
                conn = await self._connect(host, port)
            try:
                assert conn.transport is not None
                if conn.closed:
                    raise UpstreamUnreachable("the upstream closed the connection")
                conn.transport.write(head)
                while not conn.headers_done:
                    await conn.wait(self.read_timeout)
            except UpstreamUnreachable:
                if not reused or conn.received:
                    raise
                # the upstream had closed this idle connection: once more on a new one
                conn.close()
                conn = None
                conn = await self._connect(host, port)
                await self._send(conn, head)
            if conn.done:
                response = FastResponse(conn.status, conn.headers, b"".join(conn.chunks))
                self._give_back(key, conn)
                conn = None
                return response
            handed_over = True
            return FastResponse(conn.status, conn.headers, None, self, key, conn)
        finally:
            if not handed_over:
                if conn is not None:
                    conn.close()
                self.limit.release()

    async def _send(self, conn: _Connection, head: bytes) -> None:
        assert conn.transport is not None
        if conn.closed:
            raise UpstreamUnreachable("the upstream closed the connection")
        conn.transport.write(head)
        while not conn.headers_done:
            await conn.wait(self.read_timeout)

    def _done_with(self, key: tuple[str, int], conn: _Connection) -> None:
        self._give_back(key, conn)
        self.limit.release()

    async def close(self) -> None:
        self.closing = True
        for conns in self.idle.values():
            for conn in conns:
                conn.close()
        self.idle.clear()


class FastResponse:
    """A fast-lane answer: ``body`` when it was complete with the head, else ``chunks()``."""

    __slots__ = ("body", "conn", "headers", "key", "lane", "read_to_end", "status")

    def __init__(
        self,
        status: int,
        headers: Headers,
        body: bytes | None,
        lane: FastLane | None = None,
        key: tuple[str, int] = ("", 0),
        conn: _Connection | None = None,
    ) -> None:
        self.status, self.headers, self.body = status, headers, body
        self.lane, self.key, self.conn = lane, key, conn
        self.read_to_end = False

    async def chunks(self) -> AsyncIterator[bytes]:
        if self.body is not None:
            if self.body:
                yield self.body
            return
        conn = self.conn
        assert conn is not None and self.lane is not None
        timeout = self.lane.read_timeout
        while True:
            while conn.chunks:
                chunk = conn.chunks.popleft()
                conn.body_bytes -= len(chunk)
                if conn.paused and conn.body_bytes <= _PAUSE_AT // 4:
                    conn.paused = False
                    assert conn.transport is not None
                    conn.transport.resume_reading()
                yield chunk
            if conn.done:
                self.read_to_end = True
                return
            await conn.wait(timeout)

    async def read(self) -> bytes:
        if self.body is not None:
            return self.body
        return b"".join([chunk async for chunk in self.chunks()])

    def close(self) -> None:
        conn = self.conn
        if conn is None:
            return
        self.conn = None
        if not self.read_to_end:
            conn.close()
        assert self.lane is not None
        self.lane._done_with(self.key, conn)


# --- the aiohttp lane ----------------------------------------------------------------------


class AiohttpLane:
    """Any request, on one pooled aiohttp session (``start()`` before use)."""

    def __init__(
        self, *, limit: int, connect_timeout_s: float | None, read_timeout_s: float | None
    ) -> None:
        self.limit = limit
        self.timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout_s, sock_read=read_timeout_s
        )
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self.limit,
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

    async def request(
        self, method: str, base: str, target: bytes, headers: Headers, body: RequestBody
    ) -> AiohttpResponse:
        assert self.session is not None, "AiohttpLane.start() first"
        data = body() if callable(body) else body
        try:
            resp = await self.session.request(
                method,
                URL(base + target.decode("latin-1"), encoded=True),
                headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers],
                data=data,
                allow_redirects=False,
            )
        except aiohttp.ServerTimeoutError as exc:
            raise UpstreamTimeout(str(exc) or "upstream timeout") from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise UpstreamUnreachable(repr(exc)) from exc
        except aiohttp.ClientResponseError as exc:  # a malformed head
            raise UpstreamUnreachable(repr(exc)) from exc
        except TimeoutError as exc:
            raise UpstreamTimeout("upstream timeout") from exc
        return AiohttpResponse(resp)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None


class AiohttpResponse:
    __slots__ = ("body", "headers", "resp", "status")

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self.resp = resp
        self.status = resp.status
        self.headers: Headers = list(resp.raw_headers)
        self.body: bytes | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.resp.content.iter_chunked(CHUNK):
                yield chunk
        except aiohttp.ServerTimeoutError as exc:
            raise UpstreamTimeout(str(exc) or "upstream timeout") from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            raise UpstreamBroken(repr(exc)) from exc
        except TimeoutError as exc:
            raise UpstreamTimeout("upstream timeout") from exc

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    def close(self) -> None:
        # back to the pool when read to the end, else the connection is closed
        self.resp.release() if self.resp.content.at_eof() else self.resp.close()
