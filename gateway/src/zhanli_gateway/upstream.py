"""The proxy's fast lane: bodiless GETs on pooled keep-alive HTTP/1.1 connections parsed by
httptools (what uvicorn parses with), without aiohttp's per-request machinery.

The proxy alone spent 211-242 us of CPU per GET of a deal with aiohttp, 81-115 us with
this (in-process, fake upstream, 8 concurrent; tests/bench/bench_gateway.py measures the
whole gateway): on a small machine every microsecond the gateway spends is taken from the
services. Everything else (request bodies, HEAD, the readiness probes, /me, the docs)
keeps using aiohttp. Idle connections are dropped when the upstream closes them (uvicorn:
after 5 s) or on a failure; at most ``limit`` requests are in flight.

Failures raise aiohttp's own exceptions so the proxy handles both lanes alike: a refused or
broken connection is a ``ClientConnectionError`` (retried once, then 502), no answer within
the read timeout a ``SocketTimeoutError`` and a slow connect a ``ConnectionTimeoutError``
(504). The read timeout applies to each wait for data, like aiohttp's ``sock_read``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator

import aiohttp
import httptools

_PAUSE_AT = 256 * 1024  # buffered body bytes before the upstream socket stops being read


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
        self.headers: list[tuple[bytes, bytes]] = []
        self.headers_done = False
        self.has_length = False
        self.keep_alive = True
        self.chunks: deque[bytes] = deque()
        self.body_bytes = 0
        self.done = False
        self.paused = False

    # --- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(aiohttp.ClientPayloadError(f"invalid upstream response: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.headers_done and not self.done and not self.has_length:
            # a body delimited by the end of the connection
            self.done, self.keep_alive = True, False
            self._wake()
        elif not self.done:
            self._fail(aiohttp.ServerDisconnectedError())

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
            raise aiohttp.SocketTimeoutError("Timeout on reading data from socket") from None
        finally:
            self.waiter = None
        if self.error is not None:
            raise self.error


class UpstreamPool:
    """Idle keep-alive connections per upstream, at most ``limit`` in use at once."""

    def __init__(
        self, *, limit: int, connect_timeout_s: float | None, read_timeout_s: float | None
    ) -> None:
        self.connect_timeout = connect_timeout_s
        self.read_timeout = read_timeout_s
        self.limit = asyncio.Semaphore(limit)
        self.idle: dict[tuple[str, int], list[_Connection]] = {}
        self.closing = False

    async def _connect(self, host: str, port: int) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(_Connection, host, port)
        except TimeoutError:
            raise aiohttp.ConnectionTimeoutError(
                f"Connection timeout to host {host}:{port}"
            ) from None
        except OSError as exc:
            raise aiohttp.ClientConnectionError(f"Cannot connect to {host}:{port}: {exc}") from exc
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

    async def request(
        self, host: str, port: int, head: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], Body | bytes]:
        """Send a bodiless request (``head``: request line and headers, ending with the
        empty line) and return (status, raw headers, body): the body is bytes when it was
        complete with the headers, else a ``Body`` to read and then close (always)."""
        key = (host, port)
        await self.limit.acquire()
        conn: _Connection | None = None
        handed_over = False
        try:
            conn = self._take(key) or await self._connect(host, port)
            assert conn.transport is not None
            conn.transport.write(head)
            while not conn.headers_done:
                await conn.wait(self.read_timeout)
            if conn.done:
                status, headers, body = conn.status, conn.headers, b"".join(conn.chunks)
                self._give_back(key, conn)
                conn = None
                return status, headers, body
            handed_over = True
            return conn.status, conn.headers, Body(self, key, conn)
        finally:
            if not handed_over:
                if conn is not None:
                    conn.close()
                self.limit.release()

    def _done_with(self, key: tuple[str, int], conn: _Connection) -> None:
        self._give_back(key, conn)
        self.limit.release()

    def close(self) -> None:
        self.closing = True
        for conns in self.idle.values():
            for conn in conns:
                conn.close()
        self.idle.clear()


class Body:
    """A response body still arriving: ``chunks()`` reads it, ``close()`` (always called,
    idempotent) hands the connection back when it was read to the end, else closes it."""

    __slots__ = ("conn", "key", "pool", "read")

    def __init__(self, pool: UpstreamPool, key: tuple[str, int], conn: _Connection) -> None:
        self.pool, self.key, self.conn = pool, key, conn
        self.read = False

    async def chunks(self) -> AsyncGenerator[bytes, None]:
        conn = self.conn
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
                self.read = True
                return
            await conn.wait(self.pool.read_timeout)

    def close(self) -> None:
        conn = self.conn
        if conn is None:
            return
        self.conn = None  # type: ignore[assignment]
        if not self.read:
            conn.close()
        self.pool._done_with(self.key, conn)
