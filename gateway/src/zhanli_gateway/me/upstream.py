"""Per-user calls from /me to the services: the caller's own token, the proxy's upstream
client (zhanli_gateway.upstream) and circuit breakers, and the proxy's failure answers
(problem+json 502 when the service is unreachable or fails, 503 when its breaker is open,
504 when it is too slow). A 4xx of the service (403, 404, 422) is relayed as the service
wrote it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
import structlog
from fastapi import Request, Response

from zhanli_gateway.proxy import ProxyApp
from zhanli_gateway.upstream import Headers, UpstreamBroken, UpstreamError, UpstreamTimeout
from zhanli_shared.errors import PROBLEM_JSON, problem
from zhanli_shared.observability import current_request_id

log = structlog.get_logger("zhanli.me")


class UpstreamFailure(Exception):
    """Carries the response to give the caller instead of the expected data."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _fail(status: int, title: str, detail: str, code: str, **headers: str) -> UpstreamFailure:
    return UpstreamFailure(problem(status, title, detail, code=code, headers=headers or None))


class Services:
    def __init__(self, proxy: ProxyApp) -> None:
        self.proxy = proxy

    async def call(
        self,
        request: Request,
        service: str,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
    ) -> Any:
        """The service's JSON answer to ``method path`` made as the caller."""
        if service not in self.proxy.upstreams:
            raise _fail(
                503, "Service unavailable", f"No {service} service.", "upstream-unavailable"
            )
        breaker = self.proxy.breakers[service]
        if not breaker.allow():
            raise _fail(
                503,
                "Service unavailable",
                f"The {service} service is failing; retry shortly.",
                "upstream-unavailable",
                **{"retry-after": str(breaker.retry_after_s())},
            )
        headers: Headers = [(b"accept", b"application/json")]
        auth = request.headers.get("authorization")
        if auth:
            headers.append((b"authorization", auth.encode("latin-1")))
        rid = current_request_id()
        if rid:
            headers.append((b"x-request-id", rid.encode("latin-1")))
        data = None
        if json is not None:
            data = orjson.dumps(json)
            headers.append((b"content-type", b"application/json"))
        base = self.proxy.upstreams[service]
        target = path + ("?" + urlencode(params) if params else "")
        upstream = self.proxy.client_for(method, base, data)
        attempts = 2 if method == "GET" else 1
        for attempt in range(1, attempts + 1):
            try:
                resp = await upstream.request(method, base, target.encode("latin-1"), headers, data)
                try:
                    body = await resp.read()
                finally:
                    resp.close()
                status = resp.status
                content_type = next(
                    (v.decode("latin-1") for k, v in resp.headers if k.lower() == b"content-type"),
                    "",
                )
                break
            except UpstreamTimeout as exc:
                self.proxy.failed(service, down=True)
                raise self._timeout(service) from exc
            except UpstreamError as exc:
                if attempt == attempts:
                    self.proxy.failed(service, down=not isinstance(exc, UpstreamBroken))
                    log.warning("me.upstream_error", service=service, error=repr(exc))
                    raise _fail(
                        502,
                        "Bad gateway",
                        f"The {service} service is unreachable.",
                        "upstream-unreachable",
                    ) from exc
        if status >= 500:
            breaker.failure()
            log.warning("me.upstream_failed", service=service, status=status)
            if status in (503, 504):
                raise _fail(
                    status,
                    "Service unavailable" if status == 503 else "Gateway timeout",
                    f"The {service} service answered {status}.",
                    "upstream-unavailable" if status == 503 else "upstream-timeout",
                )
            raise _fail(
                502,
                "Bad gateway",
                f"The {service} service failed ({status}).",
                "upstream-failed",
            )
        breaker.success()
        if status >= 400:
            raise UpstreamFailure(
                Response(body, status_code=status, media_type=content_type or PROBLEM_JSON)
            )
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise _fail(
                502,
                "Bad gateway",
                f"The {service} service answered something other than JSON.",
                "upstream-failed",
            ) from exc

    @staticmethod
    def _timeout(service: str) -> UpstreamFailure:
        log.warning("me.timeout", service=service)
        return _fail(
            504,
            "Gateway timeout",
            f"The {service} service did not answer in time.",
            "upstream-timeout",
        )
