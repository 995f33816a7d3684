"""Strong ETags over the exact response bytes, and ``If-None-Match`` (RFC 9110 13.1.2)."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from fastapi import Request, Response

# Per-person content under a shared URL: private caches only, revalidated on every use.
CACHE_HEADERS = {"cache-control": "private, no-cache", "vary": "Authorization"}


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:40] + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison, as If-None-Match requires: ``W/"x"`` matches ``"x"``."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate.startswith("W/"):
            candidate = candidate[2:]
        if candidate == etag:
            return True
    return False


def json_response(request: Request, payload: Any, *, conditional: bool = True) -> Response:
    """``payload`` as JSON with its ETag; 304 without a body when the client has it."""
    body = orjson.dumps(payload)
    etag = etag_of(body)
    headers = {"etag": etag, **CACHE_HEADERS}
    if (
        conditional
        and request.method in ("GET", "HEAD")
        and matches(request.headers.get("if-none-match"), etag)
    ):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)
