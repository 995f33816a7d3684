"""The upstream client's contract (zhanli_gateway.upstream), run against BOTH implementations
(the httptools fast lane and the aiohttp lane) and a scripted HTTP/1.1 server on a real
socket: keep-alive reuse and expiry, bodies ended by close, chunked bodies, 1xx interim
answers, a server that closes before answering or mid-body, timeouts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from zhanli_gateway.upstream import (
    AiohttpLane,
    FastLane,
    UpstreamBroken,
    UpstreamClient,
    UpstreamResponse,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from zhanli_shared.testing.broker import free_port
from zhanli_shared.testing.plugin import eventually

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


@dataclass
class Scripted:
    """A raw HTTP/1.1 server: ``script(reader, writer, n)`` answers the n-th request (from
    1, over every connection); it returns when it keeps the connection for the next
    request, and closes the writer to end it."""

    script: Script
    port: int = 0
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    closed: int = 0  # connections ended (by either side)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while not writer.is_closing():
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.requests.append(head)
                await self.script(reader, writer, len(self.requests))
        finally:
            writer.close()
            self.closed += 1


@contextlib.asynccontextmanager
async def scripted(script: Script) -> AsyncIterator[Scripted]:
    server = Scripted(script)
    srv = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = srv.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        srv.close()
        await srv.wait_closed()


@pytest.fixture(params=["fast", "aiohttp"])
async def lane(request: pytest.FixtureRequest) -> AsyncIterator[UpstreamClient]:
    kind = request.param
    client: FastLane | AiohttpLane
    if kind == "fast":
        client = FastLane(limit=16, connect_timeout_s=2.0, read_timeout_s=0.5)
    else:
        client = AiohttpLane(limit=16, connect_timeout_s=2.0, read_timeout_s=0.5)
        await client.start()
    yield client
    await client.close()


async def get(
    client: UpstreamClient, server: Scripted, path: bytes = b"/x"
) -> tuple[UpstreamResponse, bytes]:
    resp = await client.request("GET", server.base, path, [(b"accept", b"*/*")], None)
    try:
        return resp, await resp.read()
    finally:
        resp.close()


def header(resp: UpstreamResponse, name: bytes) -> bytes | None:
    for k, v in resp.headers:
        if k.lower() == name:
            return v
    return None


async def answer(writer: asyncio.StreamWriter, status: str, headers: str, body: bytes) -> None:
    writer.write(f"HTTP/1.1 {status}\r\n{headers}\r\n".encode() + body)
    await writer.drain()


async def test_content_length_bodies_reuse_one_connection(lane: UpstreamClient) -> None:
    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        body = f"answer {n}".encode()
        await answer(w, "200 OK", f"Content-Length: {len(body)}\r\nX-N: {n}\r\n", body)

    async with scripted(script) as server:
        for n in (1, 2, 3):
            resp, body = await get(lane, server, f"/x?n={n}".encode())
            assert (resp.status, body, header(resp, b"x-n")) == (
                200,
                f"answer {n}".encode(),
                str(n).encode(),
            )
        assert server.connections == 1
        assert server.requests[2].startswith(b"GET /x?n=3 HTTP/1.1\r\n")
        assert b"\r\nhost: 127.0.0.1:" in server.requests[0].lower()


async def test_keep_alive_expiry_reconnects(lane: UpstreamClient) -> None:
    """The upstream closes an idle keep-alive connection (uvicorn does after 5 s): the next
    request goes through on a new connection."""

    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await answer(w, "200 OK", "Content-Length: 2\r\n", b"ok")
        w.close()  # the idle timeout, right after the answer

    async with scripted(script) as server:
        resp, body = await get(lane, server)
        assert (resp.status, body) == (200, b"ok")
        await eventually(lambda: server.closed == 1)
        resp, body = await get(lane, server)
        assert (resp.status, body) == (200, b"ok")
        assert len(server.requests) == 2 and server.connections == 2


async def test_keep_alive_expiry_while_the_request_is_on_its_way(lane: UpstreamClient) -> None:
    """The upstream closes an idle connection just as the next request is written (it
    never reads it): the client sends it again on a new connection, once."""

    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        if n == 2:  # the request that raced the idle close: dropped unanswered
            w.close()
            return
        await answer(w, "200 OK", "Content-Length: 2\r\n", b"ok")

    async with scripted(script) as server:
        assert (await get(lane, server))[1] == b"ok"
        resp, body = await get(lane, server)
        assert (resp.status, body) == (200, b"ok")
        assert len(server.requests) == 3 and server.connections == 2


async def test_a_body_ended_by_close(lane: UpstreamClient) -> None:
    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await answer(w, "200 OK", "Connection: close\r\n", b"part one, ")
        await asyncio.sleep(0)
        w.write(b"part two")
        await w.drain()
        w.close()

    async with scripted(script) as server:
        for _ in range(2):
            resp, body = await get(lane, server)
            assert (resp.status, body) == (200, b"part one, part two")
        assert server.connections == 2  # never reused


async def test_a_chunked_body_streams_and_the_connection_is_reused(lane: UpstreamClient) -> None:
    parts = [b"a" * 10, b"b" * 70_000, b"c"]

    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await answer(w, "200 OK", "Transfer-Encoding: chunked\r\n", b"")
        for part in parts:
            w.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            await w.drain()
        w.write(b"0\r\n\r\n")
        await w.drain()

    async with scripted(script) as server:
        for _ in range(2):
            resp = await lane.request("GET", server.base, b"/x", [], None)
            try:
                assert resp.status == 200
                assert header(resp, b"transfer-encoding") == b"chunked"
                got = [chunk async for chunk in resp.chunks()]
            finally:
                resp.close()
            assert b"".join(got) == b"".join(parts)
        assert server.connections == 1


async def test_interim_1xx_answers_are_skipped(lane: UpstreamClient) -> None:
    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        w.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        w.write(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
        await w.drain()
        await answer(w, "201 Created", "Content-Length: 4\r\nX-Final: yes\r\n", b"done")

    async with scripted(script) as server:
        for _ in range(2):
            resp, body = await get(lane, server)
            assert (resp.status, body) == (201, b"done")
            assert header(resp, b"x-final") == b"yes" and header(resp, b"link") is None
        assert server.connections == 1


async def test_no_content_answers(lane: UpstreamClient) -> None:
    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await answer(w, "204 No Content", "", b"")

    async with scripted(script) as server:
        for _ in range(2):
            resp, body = await get(lane, server)
            assert (resp.status, body) == (204, b"")
        assert server.connections == 1


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_server_closing_mid_body_is_a_broken_answer(
    lane: UpstreamClient, framing: str
) -> None:
    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        if framing == "chunked":
            await answer(w, "200 OK", "Transfer-Encoding: chunked\r\n", b"5\r\nhello\r\n")
        else:
            await answer(w, "200 OK", "Content-Length: 100000\r\n", b"hello")
        w.close()

    async with scripted(script) as server:
        resp = await lane.request("GET", server.base, b"/x", [], None)
        try:
            assert resp.status == 200
            got = b""
            with pytest.raises(UpstreamBroken):
                async for chunk in resp.chunks():
                    got += chunk
            assert got in (b"", b"hello")
        finally:
            resp.close()
        # the client is still usable afterwards (a new connection)
        resp = await lane.request("GET", server.base, b"/x", [], None)
        resp.close()
        assert server.connections == 2


async def test_a_server_closing_before_answering_is_unreachable(lane: UpstreamClient) -> None:
    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        w.close()

    async with scripted(script) as server:
        with pytest.raises(UpstreamUnreachable):
            await get(lane, server)


async def test_a_refused_connection_is_unreachable(lane: UpstreamClient) -> None:
    with pytest.raises(UpstreamUnreachable):
        await lane.request("GET", f"http://127.0.0.1:{free_port()}", b"/x", [], None)


async def test_no_answer_in_time_is_a_timeout(lane: UpstreamClient) -> None:
    release = asyncio.Event()

    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await release.wait()

    async with scripted(script) as server:
        try:
            with pytest.raises(UpstreamTimeout):
                await get(lane, server)
        finally:
            release.set()


async def test_a_body_stalling_mid_way_is_a_timeout(lane: UpstreamClient) -> None:
    release = asyncio.Event()

    async def script(r: asyncio.StreamReader, w: asyncio.StreamWriter, n: int) -> None:
        await answer(w, "200 OK", "Content-Length: 100000\r\n", b"hello")
        await release.wait()
        w.close()

    async with scripted(script) as server:
        resp = await lane.request("GET", server.base, b"/x", [], None)
        try:
            with pytest.raises(UpstreamTimeout):
                await resp.read()
        finally:
            resp.close()
            release.set()
