"""``/api/v1/me``: the signed-in person's profile, commission, what-if, revenue, KPI board,
notifications, onboarding (learning) and mentor workbench, each in one call (the mobile
app's home screen)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response

from zhanli_gateway.me import pages
from zhanli_gateway.me.etag import json_response
from zhanli_gateway.me.schemas import (
    CommissionPage,
    NotificationPage,
    OrgUnitBrief,
    Profile,
    WhatIfBody,
)
from zhanli_gateway.me.upstream import Services, UpstreamFailure
from zhanli_gateway.proxy import ProxyApp
from zhanli_shared.auth import CurrentPrincipal
from zhanli_shared.db import utcnow
from zhanli_shared.errors import NotFound, Unprocessable
from zhanli_shared.money import business_month

PERIOD_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
Period = Annotated[
    str | None,
    Query(pattern=PERIOD_PATTERN, description="Business month YYYY-MM; default: current"),
]
Limit = Annotated[int, Query(ge=1, le=200, description="Items per page")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="next_cursor of the previous page")
]
FEED = "notifications"
FEED_MONTHS = 2  # the notifications feed: this business month and the one before
LINE_KEY = pages.key_of("occurred_at", "commission_id")  # the statement's own order
FEED_KEY = pages.key_of("at", "id")

Handler = Callable[..., Awaitable[Response]]


def _relays_failures(fn: Handler) -> Handler:
    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> Response:
        try:
            return await fn(*args, **kwargs)
        except UpstreamFailure as exc:
            return exc.response

    return wrapper


async def _me(services: Services, request: Request, employee_id: str) -> dict[str, Any]:
    """The directory entry of the token's subject (the people service's, read as the caller);
    404 for a sign-in that is not a person."""
    try:
        return await services.call(
            request, "people", "GET", f"/api/v1/directory/employees/{quote(employee_id, safe='')}"
        )
    except UpstreamFailure as exc:
        if exc.response.status_code == 404:
            raise NotFound(
                "This sign-in is not linked to a person in the directory: /me is for employees."
            ) from exc
        raise


def _path(service: str, employee_id: str, tail: str) -> str:
    return f"/api/v1/{service}/people/{quote(employee_id, safe='')}/{tail}"


def build_router(proxy: ProxyApp) -> APIRouter:
    """The /me routes, calling the services through ``proxy``'s pooled session."""
    services = Services(proxy)
    router = APIRouter(prefix="/api/v1/me", tags=["me (mobile)"])

    @router.get("", response_model=None, responses={200: {"model": Profile}})
    @_relays_failures
    async def read_me(request: Request, principal: CurrentPrincipal) -> Response:
        emp = await _me(services, request, principal.subject)
        try:
            unit: dict[str, Any] | None = await services.call(
                request,
                "people",
                "GET",
                f"/api/v1/directory/org-units/{quote(emp['org_unit_id'], safe='')}",
            )
        except UpstreamFailure as exc:
            if exc.response.status_code != 404:
                raise
            unit = None
        profile = Profile(
            employee_id=emp["employee_id"],
            name=emp["name"],
            job_role=emp["job_role"],
            status=emp["status"],
            hired_on=emp["hired_on"],
            manager_id=emp["manager_id"],
            org_unit=OrgUnitBrief(
                org_unit_id=emp["org_unit_id"],
                name=unit["name"] if unit else None,
                kind=unit["kind"] if unit else None,
                path=list(unit["path"]) if unit else [emp["org_unit_id"]],
            ),
            roles=sorted(emp["roles"]),
            token_roles=sorted(principal.roles),
            manages=sorted(principal.org_units),
        )
        return json_response(request, profile.model_dump(mode="json"))

    @router.get("/commission", response_model=None, responses={200: {"model": CommissionPage}})
    @_relays_failures
    async def read_my_commission(
        request: Request,
        principal: CurrentPrincipal,
        period: Period = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Response:
        """The period's commission (default: this month): the total, and the lines a page
        at a time in the statement's order (oldest payment first)."""
        emp = await _me(services, request, principal.subject)
        after = None
        if cursor:
            scope, after = pages.decode_cursor(cursor)
            if period and scope != period:
                raise Unprocessable(
                    f"The cursor belongs to period {scope}, not {period}.", field="cursor"
                )
            period = scope
        params = {"period": period} if period else None
        statement = await services.call(
            request,
            "commission",
            "GET",
            _path("commission", emp["employee_id"], "statement"),
            params=params,
        )
        lines = statement.get("lines", [])
        chunk, next_cursor = pages.page(
            lines, key=LINE_KEY, scope=statement["period"], limit=limit, after=after
        )
        body = {
            "employee_id": emp["employee_id"],
            "period": statement["period"],
            "currency": statement["currency"],
            "total": statement["total"],
            "basis_total": statement["basis_total"],
            "line_count": len(lines),
            "lines": chunk,
            "limit": limit,
            "next_cursor": next_cursor,
        }
        return json_response(request, body)

    @router.post(
        "/commission/what-if", response_model=None, responses={200: {"description": "Estimate"}}
    )
    @_relays_failures
    async def my_what_if(
        body: WhatIfBody, request: Request, principal: CurrentPrincipal
    ) -> Response:
        """What a payment would earn me now (the commission service's real rule; nothing is
        written). Carries an ETag; a POST is never answered 304."""
        emp = await _me(services, request, principal.subject)
        result = await services.call(
            request,
            "commission",
            "POST",
            _path("commission", emp["employee_id"], "what-if"),
            json=body.model_dump(mode="json", exclude_none=True),
        )
        return json_response(request, result, conditional=False)

    @router.get("/revenue", response_model=None, responses={200: {"description": "Revenue"}})
    @_relays_failures
    async def read_my_revenue(
        request: Request, principal: CurrentPrincipal, period: Period = None
    ) -> Response:
        """Booked and collected revenue of the period (the KPI service's figures)."""
        emp = await _me(services, request, principal.subject)
        revenue = await services.call(
            request,
            "kpi",
            "GET",
            _path("kpi", emp["employee_id"], "revenue"),
            params={"period": period} if period else None,
        )
        return json_response(request, revenue)

    @router.get("/kpi", response_model=None, responses={200: {"description": "KPI board"}})
    @_relays_failures
    async def read_my_kpi(
        request: Request, principal: CurrentPrincipal, period: Period = None
    ) -> Response:
        """The caller's live KPI board for the period (default: this month): each
        indicator's value, target, completion, score, contribution and gap, and the weighted
        total (the KPI service's board, in one call)."""
        emp = await _me(services, request, principal.subject)
        board = await services.call(
            request,
            "kpi",
            "GET",
            _path("kpi", emp["employee_id"], "board"),
            params={"period": period} if period else None,
        )
        return json_response(request, board)

    @router.get("/notifications", response_model=None, responses={200: {"model": NotificationPage}})
    @_relays_failures
    async def read_my_notifications(
        request: Request,
        principal: CurrentPrincipal,
        limit: Limit = 20,
        cursor: Cursor = None,
    ) -> Response:
        """Newest first: one notification per commission line of this business month and
        the one before (你的回款 X 已计入提成 Y). Derived from the statements; no store."""
        emp = await _me(services, request, principal.subject)
        after = None
        if cursor:
            scope, after = pages.decode_cursor(cursor)
            if scope != FEED:
                raise Unprocessable("The cursor is not one of this feed.", field="cursor")
        current = business_month(utcnow(), request.app.state.runtime.settings.timezone)
        periods = [current]
        while len(periods) < FEED_MONTHS:
            periods.append(pages.previous_period(periods[-1]))
        path = _path("commission", emp["employee_id"], "statement")
        statements = await asyncio.gather(
            *(
                services.call(request, "commission", "GET", path, params={"period": p})
                for p in periods
            )
        )
        items = [
            pages.notification_of(line, s["period"])
            for s in statements
            for line in s.get("lines", [])
        ]
        chunk, next_cursor = pages.page(
            items, key=FEED_KEY, scope=FEED, limit=limit, after=after, newest_first=True
        )
        return json_response(
            request,
            {"items": chunk, "periods": periods, "limit": limit, "next_cursor": next_cursor},
        )

    @router.get("/learning", response_model=None, responses={200: {"description": "Onboarding"}})
    @_relays_failures
    async def read_my_learning(request: Request, principal: CurrentPrincipal) -> Response:
        """My onboarding in one call (the learning service's view): day N of the
        probation, path progress, my mentor and this week's mentor tasks, next deadlines."""
        emp = await _me(services, request, principal.subject)
        view = await services.call(
            request, "learning", "GET", _path("learning", emp["employee_id"], "onboarding")
        )
        return json_response(request, view)

    @router.get(
        "/mentoring", response_model=None, responses={200: {"description": "Mentor workbench"}}
    )
    @_relays_failures
    async def read_my_mentoring(request: Request, principal: CurrentPrincipal) -> Response:
        """My mentor workbench in one call: this week's three tasks per mentee, their path
        progress and overdue courses (404 when I am not a mentor)."""
        emp = await _me(services, request, principal.subject)
        bench = await services.call(
            request,
            "learning",
            "GET",
            f"/api/v1/learning/mentors/{quote(emp['employee_id'], safe='')}/workbench",
        )
        return json_response(request, bench)

    return router
