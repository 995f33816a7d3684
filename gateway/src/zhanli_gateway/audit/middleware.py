"""Audit facts only the gateway sees: login attempts and refused authorisation (403),
appended directly to the chain in a transaction of their own (the request's own
transaction is rolled back when it fails).

Pure ASGI: on the hot path it only watches the response status; it reads the body of a
login request (small, JSON) for the username, never keeping the password.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zhanli_gateway.audit import service
from zhanli_shared.audit import build
from zhanli_shared.auth import Principal, TokenVerifier
from zhanli_shared.errors import ProblemError
from zhanli_shared.observability import current_request_id

log = structlog.get_logger("zhanli.audit")

LOGIN_PATH = "/api/v1/auth/token"
MAX_LOGIN_BODY = 16 * 1024


def _header(scope: Scope, name: bytes) -> str | None:
    found = None
    for key, value in scope["headers"]:
        if key == name:
            found = value.decode("latin-1")  # the last one: set by the nearest proxy
    return found


def _source_ip(scope: Scope) -> str | None:
    forwarded = _header(scope, b"x-forwarded-for")
    if forwarded:
        hop = forwarded.rsplit(",", 1)[-1].strip()
        if hop:
            return hop[:64]
    client = scope.get("client")
    return client[0] if client else None


class AuditMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        sessions: Callable[[], async_sessionmaker[AsyncSession]],
        verifier: TokenVerifier | None,
        service_name: str = "gateway",
    ) -> None:
        self.app = app
        self.sessions = sessions
        self.verifier = verifier
        self.service_name = service_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0
        request_id: str | None = None
        login = scope["path"] == LOGIN_PATH and scope["method"] == "POST"
        body = bytearray()

        async def watch_send(message: Message) -> None:
            nonlocal status, request_id
            if message["type"] == "http.response.start":
                status = message["status"]
                for key, value in message.get("headers", []):
                    if key == b"x-request-id":
                        request_id = value.decode("latin-1")
            await send(message)

        async def watch_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(body) < MAX_LOGIN_BODY:
                body.extend(message.get("body", b"")[: MAX_LOGIN_BODY - len(body)])
            return message

        await self.app(scope, watch_receive if login else receive, watch_send)
        if status == 403 or (login and status in (200, 401)):
            request_id = current_request_id() or request_id
            try:
                await self._record(scope, status, request_id, bytes(body) if login else None)
            except Exception as exc:  # the caller already has the answer; never fail it
                log.error("audit.gateway_record_failed", error=repr(exc), status=status)

    def _principal(self, scope: Scope) -> Principal | str:
        auth = _header(scope, b"authorization") or ""
        scheme, _, token = auth.partition(" ")
        if self.verifier is not None and scheme.lower() == "bearer" and token:
            try:
                return self.verifier.verify(token.strip())
            except ProblemError:
                pass
        return "anonymous"

    async def _record(
        self, scope: Scope, status: int, request_id: str | None, login_body: bytes | None
    ) -> None:
        source_ip = _source_ip(scope)
        fields: dict[str, Any]
        if login_body is not None:
            username = "?"
            try:
                parsed = json.loads(login_body)
                if isinstance(parsed, dict) and isinstance(parsed.get("username"), str):
                    username = parsed["username"][:200]
            except ValueError:
                pass
            ok = status == 200
            fields = {
                "actor": username,
                "action": "auth.login.succeeded" if ok else "auth.login.failed",
                "entity_type": "user",
                "entity_id": username,
                "before": None,
                "after": {"outcome": "success" if ok else "failure", "status": status},
            }
        else:
            fields = {
                "actor": self._principal(scope),
                "action": "authz.denied",
                "entity_type": "http",
                "entity_id": f"{scope['method']} {scope['path']}"[:200],
                "before": None,
                "after": {"method": scope["method"], "path": scope["path"], "status": status},
            }
        fact = build(
            **fields,
            service=self.service_name,
            request_id=request_id,
            source_ip=source_ip,
        )
        if login_body is not None:
            fact = fact.model_copy(update={"actor_kind": "user" if status == 200 else "anonymous"})
        async with self.sessions()() as session:
            await service.append(session, fact)
            await session.commit()
