"""Webhook mechanics without I/O: topic matching, URL rules, signatures, backoff, bodies."""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import random
import secrets
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
FORMATS = ("cloudevents", "wecom", "dingtalk")

# Short bilingual names of the known event types for robot messages.
LABELS: dict[str, str] = {
    "zhanli.directory.employee_upserted": "员工信息变更 Employee updated",
    "zhanli.directory.org_unit_upserted": "组织架构变更 Org unit updated",
    "zhanli.sales.deal_recorded": "新成交 Deal recorded",
    "zhanli.sales.payment_received": "回款到账 Payment received",
    "zhanli.commission.calculated": "提成已计算 Commission calculated",
    "zhanli.audit.recorded": "审计记录 Audit fact",
}


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def is_pattern(value: str) -> bool:
    return "*" in value or "?" in value or "[" in value


def matches(patterns: Iterable[str], topic: str) -> bool:
    """Whether ``topic`` is one of ``patterns`` (exact names or ``*`` globs)."""
    return any(p == topic or (is_pattern(p) and fnmatch.fnmatchcase(topic, p)) for p in patterns)


def check_event_types(
    requested: Iterable[str], known: Iterable[str], blocked: Iterable[str]
) -> list[str]:
    """The normalised list, or ValueError naming the first type that matches no topic."""
    offered = [t for t in known if not matches(blocked, t)]
    out: list[str] = []
    for value in requested:
        value = value.strip()
        if not value:
            raise ValueError("an event type is empty")
        if is_pattern(value):
            if not value.startswith("zhanli."):
                raise ValueError(f"pattern {value!r} must start with 'zhanli.'")
            if not any(fnmatch.fnmatchcase(t, value) for t in offered):
                raise ValueError(f"pattern {value!r} matches no event type offered")
        elif value not in offered:
            raise ValueError(f"unknown event type {value!r}")
        if value not in out:
            out.append(value)
    if not out:
        raise ValueError("give at least one event type")
    return out


def check_url(url: str, http_allowed_hosts: Iterable[str]) -> str:
    """The URL if it may be called, else ValueError: https, or http to an allowed host."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if not host:
        raise ValueError("the URL has no host")
    if parts.scheme == "https":
        return url
    if parts.scheme == "http":
        if host.lower() in {h.lower() for h in http_allowed_hosts}:
            return url
        allowed = ", ".join(http_allowed_hosts) or "no host"
        raise ValueError(f"use https (plain http is allowed only to: {allowed})")
    raise ValueError("the URL must be https")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"``."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def signature_header(secrets_: Iterable[str], timestamp: str, body: bytes) -> str:
    return ",".join(f"{SIGNATURE_VERSION}={sign(s, timestamp, body)}" for s in secrets_)


def verify(
    secret: str, timestamp: str, body: bytes, header: str, *, now: float, tolerance_s: float = 300
) -> bool:
    """What a receiver does (used by the tests and as the reference implementation)."""
    try:
        if abs(now - int(timestamp)) > tolerance_s:
            return False
    except ValueError:
        return False
    expected = sign(secret, timestamp, body)
    return any(
        hmac.compare_digest(expected, part.strip()[len(SIGNATURE_VERSION) + 1 :])
        for part in header.split(",")
        if part.strip().startswith(SIGNATURE_VERSION + "=")
    )


def backoff_s(
    attempts: int, *, base_s: float, cap_s: float, jitter: float, rng: random.Random | None = None
) -> float:
    """Delay before the next attempt after ``attempts`` failed ones (>= 1)."""
    delay = min(cap_s, base_s * 2 ** max(attempts - 1, 0))
    spread = (rng or random).uniform(-jitter, jitter)
    return max(0.0, delay * (1 + spread))


def retry_after_s(value: str | None) -> float | None:
    """A ``Retry-After`` in seconds (the HTTP-date form is ignored)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def summary(event: dict[str, Any]) -> str:
    """A short bilingual robot message: what happened, to which aggregate, when."""
    topic = str(event.get("type", ""))
    name, _, version = topic.rpartition(".")
    label = LABELS.get(name, "平台事件 Platform event")
    lines = [f"【战力 Zhanli】{label}", f"事件 Event: {topic}"]
    if event.get("subject"):
        lines.append(f"对象 Subject: {event['subject']}")
    lines.append(f"时间 Time: {event.get('time', '')}")
    lines.append(f"编号 Id: {event.get('id', '')}")
    del version
    return "\n".join(lines)


def render(fmt: str, event: dict[str, Any]) -> bytes:
    """The request body of one delivery in the subscription's format."""
    if fmt == "cloudevents":
        doc: dict[str, Any] = event
    elif fmt in ("wecom", "dingtalk"):
        doc = {"msgtype": "text", "text": {"content": summary(event)}}
    else:
        raise ValueError(f"unknown format {fmt!r}")
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def robot_error(fmt: str, body: bytes) -> str | None:
    """WeCom and DingTalk answer 200 with ``errcode`` != 0 on failure (bad key, rate limit)."""
    if fmt not in ("wecom", "dingtalk"):
        return None
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if isinstance(doc, dict) and doc.get("errcode") not in (None, 0):
        return f"errcode {doc.get('errcode')}: {str(doc.get('errmsg', ''))[:200]}"
    return None
