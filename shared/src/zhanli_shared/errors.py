"""RFC 9457 problem+json for every 4xx and 5xx; validation errors name the field."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Send

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://zhanli.dev/problems/"

log = structlog.get_logger("zhanli.errors")


class ProblemError(Exception):
    """A domain error that becomes a problem+json response."""

    status: int = 400
    code: str = "bad-request"
    title: str = "Bad request"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra


class BadRequest(ProblemError):
    pass


class Unauthorized(ProblemError):
    status, code, title = 401, "unauthorized", "Authentication required"


class Forbidden(ProblemError):
    status, code, title = 403, "forbidden", "Not allowed"


class NotFound(ProblemError):
    status, code, title = 404, "not-found", "Not found"


class OutOfScope(NotFound):
    """A record the caller may not see, answered exactly like one that does not exist (404
    and the same body: raise it with the unknown-id detail), so that ids cannot be
    enumerated (OWASP: an out-of-scope id must not be told apart from an unknown one).

    The refusal is still a refusal for the audit: the answer carries ``DENIED_HEADER``,
    which the gateway records as a denied request and strips before the client sees it;
    the service logs ``authz.out_of_scope``."""


DENIED_HEADER = "x-zhanli-denied"
"""Internal response header: this 404 hides a refusal (set by services, removed by the
gateway's audit middleware, which records the denial)."""


class Conflict(ProblemError):
    status, code, title = 409, "conflict", "Conflict"


class Unprocessable(ProblemError):
    status, code, title = 422, "unprocessable", "Request cannot be processed"


class UnsupportedMediaType(ProblemError):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


def problem_document(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    code: str | None = None,
    instance: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The one shape of every problem+json body (RFC 9457), FastAPI's and ASGI code's."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (code or str(status)),
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    *,
    code: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem+json response for FastAPI code."""
    body = problem_document(status, title, detail, code=code, instance=instance, **extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


_PROBLEM_CONTENT_TYPE = (b"content-type", PROBLEM_JSON.encode())


class ProblemAnswer:
    """A problem+json answer for pure ASGI code (the gateway's edge, proxy and API-key
    middleware): the body is built once, so a constant answer (429, 503...) costs two
    ``send`` calls. ``await answer.send(send, extra_headers)``."""

    __slots__ = ("body", "headers", "status")

    def __init__(
        self, status: int, title: str, detail: str | None = None, *, code: str | None = None
    ) -> None:
        self.status = status
        self.body = orjson.dumps(problem_document(status, title, detail, code=code))
        self.headers = (_PROBLEM_CONTENT_TYPE, (b"content-length", str(len(self.body)).encode()))

    async def send(self, send: Send, extra_headers: Iterable[tuple[bytes, bytes]] = ()) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [*self.headers, *extra_headers],
            }
        )
        await send({"type": "http.response.body", "body": self.body})


async def send_problem(
    send: Send,
    status: int,
    title: str,
    detail: str | None = None,
    *,
    code: str | None = None,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Send a problem+json answer from pure ASGI code."""
    await ProblemAnswer(status, title, detail, code=code).send(send, headers)


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _domain(request: Request, exc: ProblemError) -> JSONResponse:
        errors = [{"field": exc.field, "message": exc.detail}] if exc.field else None
        headers = None
        if isinstance(exc, OutOfScope):
            log.warning("authz.out_of_scope", path=request.url.path, method=request.method)
            headers = {DENIED_HEADER: "scope"}
        return problem(
            exc.status,
            exc.title,
            exc.detail,
            code=exc.code,
            instance=request.url.path,
            errors=errors,
            headers=headers,
            **exc.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        raw = exc.errors()
        if any(e.get("type") == "json_invalid" for e in raw):
            return problem(
                400,
                "Malformed JSON",
                "The request body is not valid JSON.",
                code="malformed-json",
                instance=request.url.path,
            )
        errors = [
            {
                "field": _field_name(e.get("loc", ())),
                "message": e.get("msg", ""),
                "type": e.get("type"),
            }
            for e in raw
        ]
        fields = ", ".join(e["field"] for e in errors)
        return problem(
            422,
            "Validation failed",
            f"Invalid fields: {fields}",
            code="validation",
            instance=request.url.path,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(
            exc.status_code,
            _title(exc.status_code),
            str(exc.detail),
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.exception("http.unhandled", path=request.url.path)
        return problem(
            500,
            "Internal error",
            "An unexpected error occurred; it was logged.",
            code="internal",
            instance=request.url.path,
        )


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
