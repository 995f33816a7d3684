"""Audit facts only the gateway sees: login attempts and refused authorisation (403, and
the 404s a service answers for a record out of the caller's scope: marked by the internal
``x-zhanli-denied`` header, which is removed here so the client cannot tell them from an
unknown id), here and from the services behind it, published as ``RequestAudited`` events (see
``zhanli_gateway.audit.publisher``) for the audit service to chain.

Pure ASGI: on the hot path it only watches the response status; it reads the body of a
login request (small, JSON) for the username, never keeping the password.
"""

from __future__ import annotations

import json
import uuid
from typing import Literal

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zhanli_gateway.audit.publisher import AuditEvents
from zhanli_shared.auth import Principal, TokenVerifier
from zhanli_shared.db import utcnow
from zhanli_shared.errors import DENIED_HEADER, ProblemError
from zhanli_shared.events.contracts.gateway import RequestAudited
from zhanli_shared.observability import current_request_id

log = structlog.get_logger("zhanli.audit")

LOGIN_PATH = "/api/v1/auth/token"
_DENIED = DENIED_HEADER.encode()
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
        events: AuditEvents,
        verifier: TokenVerifier | None,
    ) -> None:
        self.app = app
        self.events = events
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0
        request_id: str | None = None
        login = scope["path"] == LOGIN_PATH and scope["method"] == "POST"
        body = bytearray()

        denied = False

        async def watch_send(message: Message) -> None:
            nonlocal status, request_id, denied
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers", [])
                for key, value in headers:
                    if key == b"x-request-id":
                        request_id = value.decode("latin-1")
                    elif key == _DENIED:
                        denied = True
                if denied:
                    message["headers"] = [(k, v) for k, v in headers if k != _DENIED]
            await send(message)

        async def watch_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(body) < MAX_LOGIN_BODY:
                body.extend(message.get("body", b"")[: MAX_LOGIN_BODY - len(body)])
            return message

        await self.app(scope, watch_receive if login else receive, watch_send)
        if status == 403 or denied or (login and status in (200, 401)):
            request_id = current_request_id() or request_id
            try:
                self._record(scope, status, request_id, bytes(body) if login else None)
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

    def _record(
        self, scope: Scope, status: int, request_id: str | None, login_body: bytes | None
    ) -> None:
        outcome: Literal["login_succeeded", "login_failed", "denied"]
        roles: list[str] = []
        if login_body is not None:
            username = "?"
            try:
                parsed = json.loads(login_body)
                if isinstance(parsed, dict) and isinstance(parsed.get("username"), str):
                    username = parsed["username"][:200] or "?"
            except ValueError:
                pass
            ok = status == 200
            outcome = "login_succeeded" if ok else "login_failed"
            actor_id, actor_kind = username, "user" if ok else "anonymous"
        else:
            outcome = "denied"
            principal = self._principal(scope)
            if isinstance(principal, Principal):
                actor_id, actor_kind = principal.subject, principal.kind
                roles = sorted(principal.roles)
            else:
                actor_id, actor_kind = principal, "anonymous"
        self.events.publish(
            RequestAudited(
                audit_id=uuid.uuid4().hex,
                occurred_at=utcnow(),
                outcome=outcome,
                actor_id=actor_id,
                actor_kind=actor_kind,
                roles=roles,
                method=scope["method"][:16],
                path=scope["path"][:2000],
                status=status,
                request_id=request_id[:128] if request_id else None,
                source_ip=_source_ip(scope),
            )
        )
