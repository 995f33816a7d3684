"""Outgoing webhooks: subscriptions managed by HR, IT and integrations; the audit service
consumes the events, enqueues one delivery per matching subscription and sends it signed
to a receiver on 127.0.0.1, retrying with backoff until it fails for good."""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import json
import random
import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import func, select

import zhanli_audit
from zhanli_audit.main import create_app
from zhanli_audit.settings import AuditSettings
from zhanli_audit.webhooks import core
from zhanli_audit.webhooks import service as webhook_service
from zhanli_audit.webhooks.models import WebhookDelivery, WebhookSubscription
from zhanli_shared.events.contracts.directory import EmployeeUpserted, OrgUnitUpserted
from zhanli_shared.events.contracts.sales import DealRecorded
from zhanli_shared.events.kafka import make_producer
from zhanli_shared.events.outbox import Publisher
from zhanli_shared.testing.broker import free_port
from zhanli_shared.testing.plugin import DatabaseTarget, eventually
from zhanli_shared.testing.services import RunningService, running_service, service_settings

MAX_ATTEMPTS = 4
API = "/api/v1/webhooks"


class Receiver:
    """A local HTTP receiver: /ok, /flaky (500 twice per event, then 200), /fail (always
    500), /robot (WeCom-style 200), /robot-error (200 with errcode != 0)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
        self.seen: collections.Counter[tuple[str, str]] = collections.Counter()

    def url(self, kind: str) -> tuple[str, str]:
        key = uuid.uuid4().hex[:10]
        return key, f"http://127.0.0.1:{self.port}/{kind}/{key}"

    async def handle(self, request: web.Request) -> web.Response:
        kind, key = request.match_info["kind"], request.match_info["key"]
        body = await request.read()
        self.requests[key].append({"headers": request.headers.copy(), "body": body})
        event_id = request.headers.get("X-Zhanli-Event-Id", "")
        self.seen[(key, event_id)] += 1
        if kind == "ok":
            return web.json_response({"ok": True})
        if kind == "flaky":
            ok = self.seen[(key, event_id)] > 2
            return web.json_response({"ok": ok}, status=200 if ok else 500)
        if kind == "robot":
            return web.json_response({"errcode": 0, "errmsg": "ok"})
        if kind == "robot-error":
            return web.json_response({"errcode": 93000, "errmsg": "invalid webhook url"})
        return web.json_response({"error": "receiver is down"}, status=500)

    def for_event(self, key: str, event_id: str) -> list[dict[str, Any]]:
        return [r for r in self.requests[key] if r["headers"]["X-Zhanli-Event-Id"] == event_id]


@contextlib.asynccontextmanager
async def receiver_server() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/{kind}/{key}", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", receiver.port)
    await site.start()
    try:
        yield receiver
    finally:
        await runner.cleanup()


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    async with receiver_server() as r:
        yield r


@pytest.fixture(scope="module")
async def audit(
    db_backend: str, broker, keypair, issuer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningService]:
    target = DatabaseTarget(db_backend, tmp_path_factory.mktemp("webhooks"), "audit")
    settings = service_settings(
        AuditSettings,
        target,
        broker,
        keypair[1],
        webhook_http_allowed_hosts=["127.0.0.1"],
        webhook_poll_interval_s=0.05,
        webhook_backoff_base_s=0.05,
        webhook_backoff_cap_s=0.2,
        webhook_backoff_jitter=0.1,
        webhook_max_attempts=MAX_ATTEMPTS,
        webhook_timeout_s=5,
    )
    async with running_service(
        create_app, settings, Path(zhanli_audit.__file__).parent / "migrations", issuer
    ) as svc:
        yield svc
    await target.cleanup()


def hr(gw: RunningService) -> dict[str, str]:
    return gw.auth("HR1", ["hr_admin"])


async def subscribe(gw: RunningService, url: str, event_types: list[str], **extra) -> dict:
    r = await gw.client.post(
        f"{API}/subscriptions",
        headers=hr(gw),
        json={"name": "测试订阅 test", "url": url, "event_types": event_types, **extra},
    )
    assert r.status_code == 201, r.text
    return r.json()


async def deliveries(gw: RunningService, sub_id: str, **params) -> list[dict]:
    r = await gw.client.get(
        f"{API}/subscriptions/{sub_id}/deliveries", headers=hr(gw), params=params
    )
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def wait_delivery(gw: RunningService, sub_id: str, event_id: str, state: str) -> dict:
    async def settled():
        for d in await deliveries(gw, sub_id):
            if d["event_id"] == event_id and d["state"] == state:
                return d
        return None

    return await eventually(settled, timeout_s=30)


async def publish(gw: RunningService, event) -> str:
    """Publish as another service would; return the CloudEvent id."""
    runtime = gw.runtime
    async with runtime.sessions() as session:
        envelope = await Publisher(runtime.tables, "zhanli/test").publish(session, event)
        await session.commit()
    runtime.wake_relay()
    return envelope.id


def deal(deal_id: str) -> DealRecorded:
    return DealRecorded(
        deal_id=deal_id,
        salesperson_id="E0011",
        customer_name="华为",
        amount=Decimal("1000.00"),
        currency="CNY",
        closed_at=dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC),
    )


async def test_employee_upsert_reaches_the_receiver_as_one_signed_cloudevent(
    audit, receiver
) -> None:
    key, url = receiver.url("ok")
    sub = await subscribe(audit, url, ["zhanli.directory.employee_upserted.v1"])
    secret = sub["secret"]
    assert secret.startswith("whsec_") and sub["format"] == "cloudevents" and sub["active"]

    unit, person = f"WU{uuid.uuid4().hex[:6]}", f"WE{uuid.uuid4().hex[:6]}"
    h = hr(audit)
    await publish(audit, OrgUnitUpserted(org_unit_id=unit, name="钩子组", kind="team", path=[unit]))
    await publish(
        audit,
        EmployeeUpserted(
            employee_id=person,
            name="李雷",
            org_unit_id=unit,
            org_path=[unit],
            job_role="salesperson",
            roles=["salesperson"],
        ),
    )

    async def received():
        return [q for q in receiver.requests[key] if json.loads(q["body"])["subject"] == person]

    (request,) = await eventually(received, timeout_s=30)
    headers, body = request["headers"], request["body"]
    assert core.verify(
        secret,
        headers["X-Zhanli-Timestamp"],
        body,
        headers["X-Zhanli-Signature"],
        now=time.time(),
    )
    assert headers["X-Zhanli-Signature"].startswith("v1=")
    assert not core.verify(
        "whsec_wrong",
        headers["X-Zhanli-Timestamp"],
        body,
        headers["X-Zhanli-Signature"],
        now=time.time(),
    )
    assert not core.verify(  # outside the tolerance window: a replay
        secret,
        headers["X-Zhanli-Timestamp"],
        body,
        headers["X-Zhanli-Signature"],
        now=time.time() + 3600,
    )
    assert headers["Content-Type"].startswith("application/json")
    event = json.loads(body)
    assert event["specversion"] == "1.0"
    assert event["type"] == headers["X-Zhanli-Event-Type"] == EmployeeUpserted.topic_name()
    assert event["id"] == headers["X-Zhanli-Event-Id"]
    assert event["data"]["employee_id"] == person and event["data"]["org_path"] == [unit]
    assert "phone" not in event["data"]  # personal data never travels in events

    done = await wait_delivery(audit, sub["id"], event["id"], "delivered")
    assert done["attempts"] == 1 and done["last_status_code"] == 200
    assert done["last_error"] is None and done["delivered_at"] is not None
    assert done["next_attempt_at"] is None
    assert len(receiver.for_event(key, event["id"])) == 1
    # The org unit event was not subscribed.
    assert all(
        json.loads(q["body"])["type"] == EmployeeUpserted.topic_name()
        for q in receiver.requests[key]
    )
    r = await audit.client.delete(f"{API}/subscriptions/{sub['id']}", headers=h)
    assert r.status_code == 204


async def test_a_flaky_receiver_gets_three_attempts_and_the_log_shows_them(audit, receiver) -> None:
    key, url = receiver.url("flaky")
    sub = await subscribe(audit, url, ["zhanli.sales.*"])
    event_id = await publish(audit, deal(f"D-{key}"))
    done = await wait_delivery(audit, sub["id"], event_id, "delivered")
    assert done["attempts"] == 3 and done["last_status_code"] == 200
    assert done["last_error"] is None
    statuses = receiver.for_event(key, event_id)
    assert len(statuses) == 3
    assert [q["headers"]["X-Zhanli-Delivery-Attempt"] for q in statuses] == ["1", "2", "3"]
    # Every attempt is signed afresh with the same event id.
    for q in statuses:
        assert core.verify(
            sub["secret"],
            q["headers"]["X-Zhanli-Timestamp"],
            q["body"],
            q["headers"]["X-Zhanli-Signature"],
            now=time.time(),
        )
    (page,) = [
        d
        for d in await deliveries(audit, sub["id"], state="delivered")
        if d["event_id"] == event_id
    ]
    assert page["event_type"] == DealRecorded.topic_name()
    await audit.client.delete(f"{API}/subscriptions/{sub['id']}", headers=hr(audit))


async def test_a_receiver_always_failing_ends_failed_and_a_manual_retry_requeues(
    audit, receiver
) -> None:
    key, url = receiver.url("fail")
    sub = await subscribe(audit, url, [DealRecorded.topic_name()])
    event_id = await publish(audit, deal(f"D-{key}"))
    failed = await wait_delivery(audit, sub["id"], event_id, "failed")
    assert failed["attempts"] == MAX_ATTEMPTS and failed["last_status_code"] == 500
    assert failed["last_error"].startswith("HTTP 500") and failed["next_attempt_at"] is None
    assert failed["delivered_at"] is None
    assert len(receiver.for_event(key, event_id)) == MAX_ATTEMPTS

    seller = audit.auth("S1", ["salesperson"])
    r = await audit.client.post(f"{API}/deliveries/{failed['id']}/retry", headers=seller)
    assert r.status_code == 403
    r = await audit.client.post(f"{API}/deliveries/{failed['id']}/retry", headers=hr(audit))
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "pending" and r.json()["manual_retries"] == 1
    again = await wait_delivery(audit, sub["id"], event_id, "failed")
    assert again["manual_retries"] == 1 and again["attempts"] == MAX_ATTEMPTS
    assert len(receiver.for_event(key, event_id)) == 2 * MAX_ATTEMPTS
    r = await audit.client.post(f"{API}/deliveries/999999999/retry", headers=hr(audit))
    assert r.status_code == 404
    # An id beyond any BIGINT is bad input, not a database overflow (the fuzzer's 500).
    r = await audit.client.post(
        f"{API}/deliveries/10798632468616858042368/retry", headers=hr(audit)
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "path.delivery_id"

    # Pagination of the log: newest first, keyset cursor.
    for n in range(2):
        await publish(audit, deal(f"D-{key}-{n}"))

    async def three():
        return len(await deliveries(audit, sub["id"])) >= 3

    await eventually(three, timeout_s=30)
    # Walk every page (deals of other tests may match the subscription too, when the
    # consumer catches up late): newest first, keyset cursor, no duplicates, none missed.
    ids: list[int] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor is not None else {})
        r = await audit.client.get(
            f"{API}/subscriptions/{sub['id']}/deliveries", headers=hr(audit), params=params
        )
        page = r.json()
        assert len(page["items"]) <= 2
        ids += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert cursor == page["items"][-1]["id"]
    assert ids == sorted(ids, reverse=True) and len(ids) == len(set(ids)) >= 3
    assert failed["id"] in ids
    # Deleting the subscription cancels what is still pending; the log stays in the DB.
    r = await audit.client.delete(f"{API}/subscriptions/{sub['id']}", headers=hr(audit))
    assert r.status_code == 204
    assert (
        await audit.client.get(f"{API}/subscriptions/{sub['id']}", headers=hr(audit))
    ).status_code == 404
    # A delivery the consumer enqueued while the deletion committed (it had matched the
    # subscription just before: on PostgreSQL the two transactions overlap) is cancelled
    # by the dispatcher, never sent: enqueue one as that consumer would have.
    async with audit.runtime.sessions() as session:
        session.add(
            WebhookDelivery(
                subscription_id=sub["id"],
                event_id=f"late-{key}",
                event_type=DealRecorded.topic_name(),
                event={},
                state="pending",
                attempts=0,
                manual_retries=0,
                next_attempt_at=dt.datetime.now(dt.UTC),
                created_at=dt.datetime.now(dt.UTC),
            )
        )
        await session.commit()
    sent_before = len(receiver.requests[key])

    async def states():
        async with audit.runtime.sessions() as session:
            rows = (
                await session.execute(
                    select(WebhookDelivery.state).where(
                        WebhookDelivery.subscription_id == sub["id"]
                    )
                )
            ).scalars()
            found = set(rows)
        return found if "pending" not in found else None

    assert "cancelled" in await eventually(states, timeout_s=30)
    assert not [
        r
        for r in receiver.requests[key][sent_before:]
        if r["headers"]["X-Zhanli-Event-Id"] == f"late-{key}"
    ]


async def test_wecom_and_dingtalk_get_a_short_robot_text_message(audit, receiver) -> None:
    key, url = receiver.url("robot")
    sub = await subscribe(audit, url, ["zhanli.directory.employee_upserted.v1"], format="wecom")
    bad_key, bad_url = receiver.url("robot-error")
    bad = await subscribe(
        audit, bad_url, ["zhanli.directory.employee_upserted.v1"], format="dingtalk"
    )
    person = f"WR{uuid.uuid4().hex[:6]}"
    event_id = await publish(
        audit,
        EmployeeUpserted(
            employee_id=person,
            name="韩梅梅",
            org_unit_id="T1",
            org_path=["G1", "T1"],
            job_role="salesperson",
        ),
    )
    await wait_delivery(audit, sub["id"], event_id, "delivered")
    (request,) = receiver.for_event(key, event_id)
    doc = json.loads(request["body"])
    assert doc["msgtype"] == "text" and set(doc) == {"msgtype", "text"}
    content = doc["text"]["content"]
    assert "战力 Zhanli" in content and "员工信息变更 Employee updated" in content
    assert person in content and event_id in content
    assert "韩梅梅" not in content  # a group chat gets the summary, never the payload
    assert core.verify(
        sub["secret"],
        request["headers"]["X-Zhanli-Timestamp"],
        request["body"],
        request["headers"]["X-Zhanli-Signature"],
        now=time.time(),
    )
    # A robot answering 200 with an errcode is a failure (e.g. a revoked robot key).
    failed = await wait_delivery(audit, bad["id"], event_id, "failed")
    assert failed["last_status_code"] == 200
    assert failed["last_error"] == "errcode 93000: invalid webhook url"
    assert len(receiver.for_event(bad_key, event_id)) == MAX_ATTEMPTS
    for s in (sub, bad):
        await audit.client.delete(f"{API}/subscriptions/{s['id']}", headers=hr(audit))


async def test_the_secret_is_shown_once_encrypted_at_rest_and_rotates_with_grace(
    audit, receiver
) -> None:
    key, url = receiver.url("ok")
    sub = await subscribe(audit, url, ["zhanli.sales.deal_recorded.v1"])
    secret = sub["secret"]
    h = hr(audit)
    one = await audit.client.get(f"{API}/subscriptions/{sub['id']}", headers=h)
    listed = await audit.client.get(f"{API}/subscriptions", headers=h)
    assert one.status_code == listed.status_code == 200
    assert sub["id"] in [s["id"] for s in listed.json()]
    for text in (one.text, listed.text):
        assert secret not in text and '"secret"' not in text and "secret_enc" not in text
    async with audit.runtime.sessions() as session:
        row = await session.get(WebhookSubscription, sub["id"])
    assert row is not None and row.secret_enc.startswith("zv1.") and secret not in row.secret_enc
    cipher = audit.runtime.cipher
    assert cipher.decrypt(row.secret_enc, context=webhook_service.secret_context(sub["id"])) == (
        secret
    )

    r = await audit.client.post(f"{API}/subscriptions/{sub['id']}/rotate-secret", headers=h)
    assert r.status_code == 200, r.text
    new_secret = r.json()["secret"]
    assert new_secret != secret and r.json()["previous_secret_expires_at"] is not None
    event_id = await publish(audit, deal(f"D-{key}"))
    await wait_delivery(audit, sub["id"], event_id, "delivered")
    (request,) = receiver.for_event(key, event_id)
    signature = request["headers"]["X-Zhanli-Signature"]
    assert signature.count("v1=") == 2  # new secret first, old one during the grace period
    for s in (new_secret, secret):
        assert core.verify(
            s,
            request["headers"]["X-Zhanli-Timestamp"],
            request["body"],
            signature,
            now=time.time(),
        )

    # PATCH: pause and change the event types; a paused subscription gets nothing.
    r = await audit.client.patch(
        f"{API}/subscriptions/{sub['id']}",
        headers=h,
        json={"active": False, "event_types": ["zhanli.sales.*"]},
    )
    assert r.status_code == 200 and r.json()["active"] is False
    assert r.json()["event_types"] == ["zhanli.sales.*"] and "secret" not in r.json()
    r = await audit.client.patch(
        f"{API}/subscriptions/{sub['id']}", headers=h, json={"secret": "mine"}
    )
    assert r.status_code == 422
    await audit.client.delete(f"{API}/subscriptions/{sub['id']}", headers=h)


async def test_least_privilege_and_validation_name_the_field(audit, receiver) -> None:
    _, url = receiver.url("ok")
    body = {"name": "x", "url": url, "event_types": ["zhanli.sales.deal_recorded.v1"]}
    for roles in (["salesperson"], ["sales_manager"], ["executive"], ["finance"]):
        h = audit.auth("U1", roles)
        assert (
            await audit.client.post(f"{API}/subscriptions", headers=h, json=body)
        ).status_code == 403
        assert (await audit.client.get(f"{API}/subscriptions", headers=h)).status_code == 403
    seller = audit.auth("S1", ["salesperson"])
    sub = await subscribe(audit, url, ["zhanli.sales.deal_recorded.v1"])
    for method, path in (
        ("GET", f"/subscriptions/{sub['id']}"),
        ("PATCH", f"/subscriptions/{sub['id']}"),
        ("DELETE", f"/subscriptions/{sub['id']}"),
        ("POST", f"/subscriptions/{sub['id']}/rotate-secret"),
        ("GET", f"/subscriptions/{sub['id']}/deliveries"),
    ):
        r = await audit.client.request(
            method, API + path, headers=seller, json={} if method == "PATCH" else None
        )
        assert r.status_code == 403, (method, path)
        assert r.headers["content-type"] == "application/problem+json"
    for roles in (["it_ops"], ["integration"]):
        r = await audit.client.post(
            f"{API}/subscriptions", headers=audit.auth("I1", roles), json=body
        )
        assert r.status_code == 201, r.text
        assert r.json()["created_by"] == "I1"
        await audit.client.delete(f"{API}/subscriptions/{r.json()['id']}", headers=hr(audit))

    async def refused(change: dict, field: str) -> str:
        r = await audit.client.post(f"{API}/subscriptions", headers=hr(audit), json=body | change)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in r.json()["errors"]] == [field], r.json()
        return r.json()["detail"]

    detail = await refused({"url": "http://hooks.example.com/in"}, "url")
    assert "https" in detail
    await refused({"url": "ftp://127.0.0.1/x"}, "url")
    await refused({"url": "https:///nohost"}, "url")
    assert "unknown event type" in await refused(
        {"event_types": ["zhanli.sales.nothing.v1"]}, "event_types"
    )
    await refused({"event_types": ["zhanli.nothing.*"]}, "event_types")
    await refused({"event_types": ["zhanli.audit.recorded.v1"]}, "event_types")  # blocked
    await refused({"format": "slack"}, "body.format")
    # https anywhere and patterns are fine
    r = await audit.client.post(
        f"{API}/subscriptions",
        headers=hr(audit),
        json=body
        | {
            "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K",
            "event_types": ["zhanli.commission.*"],
            "active": False,
        },
    )
    assert r.status_code == 201, r.text
    await audit.client.delete(f"{API}/subscriptions/{r.json()['id']}", headers=hr(audit))
    r = await audit.client.get(f"{API}/event-types", headers=hr(audit))
    assert "zhanli.directory.employee_upserted.v1" in r.json()
    assert "zhanli.audit.recorded.v1" not in r.json()
    await audit.client.delete(f"{API}/subscriptions/{sub['id']}", headers=hr(audit))


async def test_the_same_event_consumed_twice_creates_one_delivery(audit, receiver) -> None:
    key, url = receiver.url("ok")
    sub = await subscribe(audit, url, [DealRecorded.topic_name()])
    publisher = Publisher(audit.runtime.tables, "zhanli/test")
    envelope = publisher.envelope(deal(f"D-{key}"))
    marker = publisher.envelope(deal(f"D-{key}-marker"))
    producer = make_producer(audit.settings)
    await producer.start()
    try:
        for env in (envelope, envelope, marker):
            await producer.send_and_wait(DealRecorded.topic_name(), env.to_json(), key=b"E0011")
    finally:
        await producer.stop()
    await wait_delivery(audit, sub["id"], marker.id, "delivered")
    await wait_delivery(audit, sub["id"], envelope.id, "delivered")
    async with audit.runtime.sessions() as session:
        count = (
            await session.execute(
                select(func.count()).where(
                    WebhookDelivery.subscription_id == sub["id"],
                    WebhookDelivery.event_id == envelope.id,
                )
            )
        ).scalar_one()
        assert count == 1
        # Beyond the inbox: enqueueing the same event again adds nothing either.
        assert await webhook_service.enqueue(session, envelope) == 0
    assert len(receiver.for_event(key, envelope.id)) == 1
    await audit.client.delete(f"{API}/subscriptions/{sub['id']}", headers=hr(audit))


# --------------------------------------------------------------------------- pure parts


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    rng = random.Random(7)
    plain = [core.backoff_s(n, base_s=30, cap_s=1800, jitter=0, rng=rng) for n in range(1, 9)]
    assert plain == [30, 60, 120, 240, 480, 960, 1800, 1800]
    assert 3000 < sum(plain[:7]) < 4000  # the defaults: 8 attempts over about an hour
    for n in range(1, 12):
        d = core.backoff_s(n, base_s=30, cap_s=1800, jitter=0.2, rng=rng)
        nominal = min(1800, 30 * 2 ** (n - 1))
        assert 0.8 * nominal <= d <= 1.2 * nominal
    assert core.retry_after_s("120") == 120 and core.retry_after_s("Wed, 21 Oct") is None


def test_signatures_and_topic_patterns() -> None:
    body = '{"a":"战力"}'.encode()
    header = core.signature_header(["s1", "s2"], "1700000000", body)
    assert header.startswith("v1=") and header.count(",v1=") == 1
    for s in ("s1", "s2"):
        assert core.verify(s, "1700000000", body, header, now=1700000100)
    assert not core.verify("s3", "1700000000", body, header, now=1700000100)
    assert not core.verify("s1", "1700000000", body + b" ", header, now=1700000100)
    assert not core.verify("s1", "1700000000", body, header, now=1700000301)
    assert not core.verify("s1", "not-a-time", body, header, now=1700000000)
    assert core.matches(["zhanli.sales.*"], "zhanli.sales.deal_recorded.v1")
    assert not core.matches(["zhanli.sales.deal_recorded.v1"], "zhanli.sales.payment_received.v1")
    assert core.check_url("http://LOCALHOST:8080/x", ["localhost"])
    with pytest.raises(ValueError):
        core.check_url("http://127.0.0.1:99999/x", ["127.0.0.1"])
    assert core.robot_error("wecom", b'{"errcode":0}') is None
    assert core.robot_error("cloudevents", b'{"errcode":1}') is None
