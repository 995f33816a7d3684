"""Assertions of the no-enumeration rule: an id out of the caller's scope is answered
exactly like an unknown one."""

from __future__ import annotations

import json
from typing import Any

import httpx

from zhanli_shared.errors import DENIED_HEADER, PROBLEM_JSON

# Headers that differ between any two answers (or are internal, removed by the gateway).
_VARYING = {"x-request-id", "content-length", "date", DENIED_HEADER}


def assert_answered_alike(
    hidden: httpx.Response, hidden_id: str, unknown: httpx.Response, unknown_id: str
) -> None:
    """``hidden`` (an existing id out of scope) and ``unknown`` (an id that does not exist)
    have the same status (404), the same header names and the same body, ids aside."""
    assert hidden.status_code == unknown.status_code == 404, (hidden.text, unknown.text)
    assert hidden.headers["content-type"] == unknown.headers["content-type"] == PROBLEM_JSON

    def shape(r: httpx.Response, rid: str) -> Any:
        return json.loads(r.text.replace(rid, "<id>"))

    assert shape(hidden, hidden_id) == shape(unknown, unknown_id)
    names = {k.lower() for k in hidden.headers} - _VARYING
    assert names == {k.lower() for k in unknown.headers} - _VARYING
