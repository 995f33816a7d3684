"""The gateway's /api/v1/me parts on their own: ETags, cursors and an unreachable service.
The end-to-end tests (every service under the supervisor) are tests/e2e/test_me.py."""

from __future__ import annotations

import datetime as dt

import pytest
from starlette.requests import Request

from zhanli_gateway.me import etag, pages
from zhanli_gateway.me.upstream import Services, UpstreamFailure
from zhanli_gateway.proxy import ProxyApp
from zhanli_shared.errors import ProblemError
from zhanli_shared.testing.broker import free_port

SH = dt.timezone(dt.timedelta(hours=8))


def test_if_none_match_and_cursor_helpers() -> None:
    tag = etag.etag_of(b"{}")
    assert etag.matches(tag, tag) and etag.matches("*", tag)
    assert etag.matches(f'W/{tag}, "x"', tag) and not etag.matches('"x"', tag)
    assert not etag.matches(None, tag)
    key = (dt.datetime(2026, 11, 5, 10, tzinfo=SH), "c-1")
    assert pages.decode_cursor(pages.encode_cursor("2026-11", key)) == ("2026-11", key)
    for bad in ("", "%%%", pages.encode_cursor("x", key)[:-3]):
        with pytest.raises(ProblemError):
            pages.decode_cursor(bad)
    assert pages.previous_period("2026-01") == "2025-12"
    assert pages.previous_period("2026-11") == "2026-10"


async def test_an_unreachable_service_is_a_502_then_503_problem() -> None:
    proxy = ProxyApp(
        {"commission": f"http://127.0.0.1:{free_port()}"},
        verifier=None,
        breaker_threshold=2,
        breaker_reset_s=60,
    )
    await proxy.start()
    request = Request({"type": "http", "method": "GET", "headers": [(b"authorization", b"x")]})
    try:
        statuses = []
        for _ in range(3):
            with pytest.raises(UpstreamFailure) as failure:
                await Services(proxy).call(request, "commission", "GET", "/api/v1/commission/x")
            response = failure.value.response
            assert response.media_type == "application/problem+json"
            statuses.append(response.status_code)
        assert statuses == [502, 502, 503]
        assert int(response.headers["retry-after"]) >= 1
    finally:
        await proxy.close()
