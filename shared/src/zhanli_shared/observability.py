"""JSON logs with request and event ids, Prometheus metrics, and the request middleware."""

from __future__ import annotations

import logging
import sys
import time
import uuid
from contextvars import ContextVar
from typing import Any

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_request_id: ContextVar[str | None] = ContextVar("zhanli_request_id", default=None)


def current_request_id() -> str | None:
    return _request_id.get()


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    """structlog to stdout, one JSON object a line, with service, request and event ids."""
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    logging.basicConfig(level=level.upper(), stream=sys.stdout, format="%(message)s")
    for noisy in ("aiokafka", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def bind_event_context(event_id: str, event_type: str) -> None:
    structlog.contextvars.bind_contextvars(event_id=event_id, event_type=event_type)


def clear_event_context() -> None:
    structlog.contextvars.unbind_contextvars("event_id", "event_type")


class _Metrics:
    def __init__(self) -> None:
        self.http_requests = Counter(
            "zhanli_http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
        )
        self.http_latency = Histogram(
            "zhanli_http_request_duration_seconds",
            "HTTP request latency",
            ["service", "route"],
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.events_published = Counter(
            "zhanli_events_published_total", "Events relayed from the outbox to Kafka", ["service"]
        )
        self.events_consumed = Counter(
            "zhanli_events_consumed_total", "Events consumed", ["service", "type", "outcome"]
        )
        self.events_dead_lettered = Counter(
            "zhanli_events_dead_lettered_total",
            "Events sent to a dead-letter topic",
            ["service", "topic"],
        )
        self.outbox_backlog = Gauge(
            "zhanli_outbox_backlog",
            "Unsent outbox rows seen by the relay (0 when drained)",
            ["service"],
        )
        self.relay_errors = Counter(
            "zhanli_relay_errors_total",
            "Relay attempts that failed (broker down, ...)",
            ["service"],
        )
        self.relay_refused = Counter(
            "zhanli_relay_refused_total",
            "Outbox rows a working broker refused (too large, unknown topic), per attempt",
            ["service"],
        )
        self.outbox_parked_total = Counter(
            "zhanli_outbox_parked_total",
            "Outbox rows set aside after the broker refused them relay_max_attempts times",
            ["service"],
        )
        self.outbox_parked = Gauge(
            "zhanli_outbox_parked_rows",
            "Outbox rows parked now, waiting for an operator (outbox retry|discard)",
            ["service"],
        )
        self.consumer_rewinds = Counter(
            "zhanli_consumer_rewinds_total",
            "Consumers that read their partitions again from the start after the broker "
            "turned out to be a new one",
            ["service"],
        )
        self.relay_resent = Counter(
            "zhanli_relay_resent_total",
            "Sent outbox rows sent again because the broker was a new one that never had them",
            ["service"],
        )


metrics = _Metrics()


def metrics_response_body() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST


class MetricsListener:
    """Prometheus ``/metrics`` on a port and interface of its own (a daemon thread), never
    on the public API port: request counts by route and process details are for the
    operator's Prometheus only (the chart's NetworkPolicy opens the port to it alone; the
    embedded supervisor binds it to 127.0.0.1)."""

    def __init__(self, host: str, port: int) -> None:
        from prometheus_client import start_http_server

        self._server, self._thread = start_http_server(port, addr=host)
        self.host = host
        self.port: int = self._server.server_port

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class RequestContextMiddleware:
    """Pure ASGI middleware: request id in and out, access log, HTTP metrics."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        self.log = structlog.get_logger("zhanli.http")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                rid = value.decode("latin-1")[:128]
                break
        rid = rid or uuid.uuid4().hex
        token = _request_id.set(rid)
        structlog.contextvars.bind_contextvars(request_id=rid)
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            route_path = getattr(route, "path", None) or "unmatched"
            metrics.http_requests.labels(
                self.service, scope["method"], route_path, str(status)
            ).inc()
            metrics.http_latency.labels(self.service, route_path).observe(elapsed)
            if not route_path.startswith("/health"):
                self.log.info(
                    "http.request",
                    method=scope["method"],
                    path=scope["path"],
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )
            structlog.contextvars.unbind_contextvars("request_id")
            _request_id.reset(token)
