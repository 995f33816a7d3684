"""The people service: the built-in issuer's sign-in, the directory with its change events
and data scope, personal data at rest, least privilege, and the people's key look-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

import zhanli_people
from zhanli_people.main import create_app
from zhanli_people.settings import PeopleSettings
from zhanli_shared.testing.plugin import DatabaseTarget, eventually
from zhanli_shared.testing.services import RunningService, running_service, service_settings

ADMIN_PASSWORD = "s3cret-admin-密码"


@pytest.fixture(scope="module")
async def people(
    db_backend: str, broker, keypair, issuer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningService]:
    target = DatabaseTarget(db_backend, tmp_path_factory.mktemp("people"), "people")
    settings = service_settings(
        PeopleSettings,
        target,
        broker,
        keypair[1],
        auth_private_key=SecretStr(keypair[0]),
        bootstrap_admin_password=SecretStr(ADMIN_PASSWORD),
    )
    async with running_service(
        create_app, settings, Path(zhanli_people.__file__).parent / "migrations", issuer
    ) as svc:
        yield svc
    await target.cleanup()


async def login(svc: RunningService, username: str, password: str) -> httpx.Response:
    return await svc.client.post(
        "/api/v1/auth/token", json={"username": username, "password": password}
    )


async def admin_headers(svc: RunningService) -> dict[str, str]:
    r = await login(svc, "admin", ADMIN_PASSWORD)
    assert r.status_code == 200, r.text
    return {"authorization": "Bearer " + r.json()["access_token"]}


async def test_health_readiness_metrics_and_problems(people) -> None:
    assert (await people.client.get("/health/live")).json() == {"status": "ok"}
    ready = await people.client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
    assert "zhanli_http_requests_total" in people.metrics_text()
    assert (await people.client.get("/metrics")).status_code == 404  # its own listener
    missing = await people.client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_sign_in_of_the_built_in_issuer(people) -> None:
    assert (await login(people, "admin", "wrong")).status_code == 401
    assert (await login(people, "nobody", ADMIN_PASSWORD)).status_code == 401
    r = await login(people, "admin", ADMIN_PASSWORD)
    assert r.status_code == 200, r.text
    principal = people.runtime.verifier.verify(r.json()["access_token"])
    assert principal.subject == "admin" and "hr_admin" in principal.roles
    assert r.json()["expires_in"] == people.settings.token_ttl_s


async def test_directory_writes_publish_events_and_scope_follows_the_tree(people) -> None:
    h = await admin_headers(people)
    units = [
        ("G1", "集团", "group", None, "GM"),
        ("B1", "华东分公司", "branch", "G1", None),
        ("T1", "销售一组", "team", "B1", "M1"),
        ("T2", "销售二组", "team", "B1", "M2"),
    ]
    for uid, name, kind, parent, manager in units:
        r = await people.client.put(
            f"/api/v1/directory/org-units/{uid}",
            headers=h,
            json={
                "org_unit_id": uid,
                "name": name,
                "kind": kind,
                "parent_id": parent,
                "manager_id": manager,
            },
        )
        assert r.status_code == 200, r.text
    assert (await people.client.get("/api/v1/directory/org-units", headers=h)).json()[2][
        "path"
    ] == ["G1", "B1", "T1"]
    staff = [
        ("M1", "T1", "sales_manager"),
        ("S1", "T1", "salesperson"),
        ("S2", "T2", "salesperson"),
    ]
    for eid, unit, role in staff:
        r = await people.client.put(
            f"/api/v1/directory/employees/{eid}",
            headers=h,
            json={
                "employee_id": eid,
                "name": f"员工{eid}",
                "org_unit_id": unit,
                "job_role": role,
                "roles": [role],
            },
        )
        assert r.status_code == 200, r.text
    outbox = people.runtime.tables.outbox
    async with people.runtime.sessions() as s:
        topics = (await s.execute(select(outbox.c.topic, outbox.c.key))).all()
    assert ("zhanli.directory.employee_upserted.v1", "S2") in topics
    assert ("zhanli.directory.org_unit_upserted.v1", "T1") in topics
    bad = await people.client.put(
        "/api/v1/directory/employees/S3",
        headers=h,
        json={"employee_id": "S3", "name": "x", "org_unit_id": "NOPE", "job_role": "salesperson"},
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "org_unit_id"
    r = await people.client.post(
        "/api/v1/auth/users",
        headers=h,
        json={
            "username": "m1",
            "password": "manager-pass",
            "employee_id": "M1",
            "roles": ["sales_manager"],
        },
    )
    assert r.status_code == 201, r.text
    token = (await login(people, "m1", "manager-pass")).json()["access_token"]
    mh = {"authorization": f"Bearer {token}"}
    seen = (await people.client.get("/api/v1/directory/employees", headers=mh)).json()
    assert {p["employee_id"] for p in seen["items"]} == {"M1", "S1"}
    # Out of scope is answered like unknown (404, same body): ids cannot be enumerated.
    from zhanli_shared.testing.scope import assert_answered_alike

    hidden = await people.client.get("/api/v1/directory/employees/S2", headers=mh)
    unknown = await people.client.get("/api/v1/directory/employees/S-nobody", headers=mh)
    assert_answered_alike(hidden, "S2", unknown, "S-nobody")
    denied = await people.client.put(
        "/api/v1/directory/employees/S1",
        headers=mh,
        json={"employee_id": "S1", "name": "x", "org_unit_id": "T1", "job_role": "salesperson"},
    )
    assert denied.status_code == 403


async def test_personal_data_is_encrypted_at_rest_and_masked_by_role(people) -> None:
    from zhanli_people.directory.models import Employee

    h = await admin_headers(people)
    await people.client.put(
        "/api/v1/directory/org-units/PD",
        headers=h,
        json={"org_unit_id": "PD", "name": "隐私测试组", "kind": "team", "manager_id": "PDM"},
    )
    for eid, role in (("PDM", "sales_manager"), ("PDS", "salesperson")):
        r = await people.client.put(
            f"/api/v1/directory/employees/{eid}",
            headers=h,
            json={
                "employee_id": eid,
                "name": "孙悦",
                "org_unit_id": "PD",
                "job_role": role,
                "roles": [role],
                "phone": "13812345678",
                "id_number": "11010119900307123x",
            },
        )
        assert r.status_code == 200, r.text
        assert r.json()["phone"] == "13812345678"  # HR sees it whole
    bad = await people.client.put(
        "/api/v1/directory/employees/PDX",
        headers=h,
        json={
            "employee_id": "PDX",
            "name": "x",
            "org_unit_id": "PD",
            "job_role": "salesperson",
            "id_number": "12345",
        },
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.id_number"
    async with people.runtime.sessions() as s:
        stored = await s.get(Employee, "PDS")
        assert stored.phone_enc and "13812345678" not in stored.phone_enc
        assert stored.id_number_enc.startswith("zv1.")
    for username, eid, roles in (
        ("pdm", "PDM", ["sales_manager"]),
        ("pds", "PDS", ["salesperson"]),
    ):
        await people.client.post(
            "/api/v1/auth/users",
            headers=h,
            json={
                "username": username,
                "password": "password-1",
                "employee_id": eid,
                "roles": roles,
            },
        )
    mh = {
        "authorization": "Bearer "
        + (await login(people, "pdm", "password-1")).json()["access_token"]
    }
    seen = (await people.client.get("/api/v1/directory/employees/PDS", headers=mh)).json()
    assert seen["phone"] == "138****5678" and seen["id_number"] == "110101********123X"
    sh = {
        "authorization": "Bearer "
        + (await login(people, "pds", "password-1")).json()["access_token"]
    }
    own = (await people.client.get("/api/v1/directory/employees/PDS", headers=sh)).json()
    assert own["phone"] == "13812345678"


async def test_it_ops_cannot_grant_people_roles(people) -> None:
    h = await admin_headers(people)
    r = await people.client.post(
        "/api/v1/auth/users",
        headers=h,
        json={"username": "ops1", "password": "ops-password", "roles": ["it_ops"]},
    )
    assert r.status_code == 201, r.text
    ops = {
        "authorization": "Bearer "
        + (await login(people, "ops1", "ops-password")).json()["access_token"]
    }
    escalate = await people.client.post(
        "/api/v1/auth/users",
        headers=ops,
        json={"username": "evil", "password": "evil-password", "roles": ["hr_admin"]},
    )
    assert escalate.status_code == 403
    assert escalate.json()["errors"][0]["field"] == "roles"
    robot = await people.client.post(
        "/api/v1/auth/users",
        headers=ops,
        json={"username": "erp-sync", "password": "erp-password", "roles": ["integration"]},
    )
    assert robot.status_code == 201


async def test_api_keys_are_kept_as_hashes_and_only_the_gateway_looks_them_up(people) -> None:
    from zhanli_shared import apikeys

    h = await admin_headers(people)
    r = await people.client.post(
        "/api/v1/auth/api-keys", headers=h, json={"name": "CRM", "roles": ["integration"]}
    )
    assert r.status_code == 201, r.text
    key, key_id = r.json()["api_key"], r.json()["key_id"]
    secret = apikeys.parse_key(key)[1]
    internal = f"/internal/v1/api-keys/{key_id}"
    gateway = {
        "authorization": "Bearer " + people.issuer.issue("service:gateway", [], kind="service")
    }
    state = (await people.client.get(internal, headers=gateway)).json()
    assert state["known"] and state["roles"] == ["integration"] and not state["revoked"]
    assert apikeys.secret_matches(key_id, secret, state["secret_hash"])
    listed = (await people.client.get(f"/api/v1/auth/api-keys/{key_id}", headers=h)).json()
    assert listed["last_used_at"] is not None  # a look-up is a use
    # a person (even hr_admin), or a service that is not the gateway: refused
    for headers in (
        h,
        {"authorization": "Bearer " + people.issuer.issue("svc", [], kind="service")},
    ):
        assert (await people.client.get(internal, headers=headers)).status_code == 403
    assert (await people.client.get(internal)).status_code == 401
    unknown = await people.client.get("/internal/v1/api-keys/0000000000000000", headers=gateway)
    assert unknown.json() == {**unknown.json(), "known": False, "secret_hash": None}
    assert (
        await people.client.delete(f"/api/v1/auth/api-keys/{key_id}", headers=h)
    ).status_code == 204
    assert (await people.client.get(internal, headers=gateway)).json()["revoked"] is True
    # the internal path is not in the public document
    doc = (await people.client.get("/openapi.json")).json()
    assert not any(path.startswith("/internal/") for path in doc["paths"])


async def audit_facts(svc: RunningService, entity_type: str, entity_id: str) -> list[dict]:
    """The audit facts the people service published (its outbox), oldest first."""
    import json

    outbox = svc.runtime.tables.outbox
    async with svc.runtime.sessions() as s:
        rows = (
            await s.execute(
                select(outbox.c.payload)
                .where(outbox.c.key == f"{entity_type}:{entity_id}")
                .order_by(outbox.c.id)
            )
        ).scalars()
        return [json.loads(p)["data"] for p in rows]


async def test_directory_writes_are_audited_with_before_after_actor_and_request_id(
    people,
) -> None:
    import json
    import uuid

    h = await admin_headers(people)
    unit = f"AU{uuid.uuid4().hex[:6]}"
    for i, name in enumerate(("审计一组", "审计二组")):
        r = await people.client.put(
            f"/api/v1/directory/org-units/{unit}",
            headers={**h, "x-request-id": f"rid-unit-{i}", "x-forwarded-for": "10.9.8.7"},
            json={"org_unit_id": unit, "name": name, "kind": "team"},
        )
        assert r.status_code == 200, r.text
    created, renamed = await audit_facts(people, "org_unit", unit)
    assert created["action"] == "directory.org_unit.created" and created["before"] is None
    assert renamed["action"] == "directory.org_unit.updated"
    assert renamed["before"]["name"] == "审计一组" and renamed["after"]["name"] == "审计二组"
    assert renamed["actor_id"] == "admin" and "hr_admin" in renamed["roles"]
    assert renamed["request_id"] == "rid-unit-1" and renamed["service"] == "people"
    assert renamed["source_ip"] == "10.9.8.7"

    person = f"AE{uuid.uuid4().hex[:6]}"
    body = {
        "employee_id": person,
        "name": "钱多多",
        "org_unit_id": unit,
        "job_role": "salesperson",
        "roles": ["salesperson"],
        "phone": "13912345678",
        "id_number": "11010119900307123X",
    }
    for change in ({}, {"job_role": "sales_manager"}):
        r = await people.client.put(
            f"/api/v1/directory/employees/{person}", headers=h, json=body | change
        )
        assert r.status_code == 200, r.text
    first, second = await audit_facts(people, "employee", person)
    assert first["after"]["phone"] == "changed" and first["after"]["id_number"] == "changed"
    assert second["after"]["phone"] == "unchanged"  # same number sent again
    assert second["before"]["job_role"] == "salesperson"
    assert second["after"]["job_role"] == "sales_manager"
    dumped = json.dumps([first, second], ensure_ascii=False)
    assert "13912345678" not in dumped and "11010119900307123" not in dumped

    username = f"u-{person}".lower()
    r = await people.client.post(
        "/api/v1/auth/users",
        headers=h,
        json={
            "username": username,
            "password": "password-1",
            "employee_id": person,
            "roles": ["sales_manager"],
        },
    )
    assert r.status_code == 201, r.text
    (granted,) = await audit_facts(people, "user", username)
    assert granted["action"] == "identity.user.created" and granted["actor_id"] == "admin"
    assert granted["after"]["roles"] == ["sales_manager"] and "password" not in json.dumps(granted)


async def test_a_departure_ends_sign_in_tokens_and_owned_api_keys_at_once(people) -> None:
    """The directory says the person has left: they cannot sign in, the token they hold is
    refused (401) here, and the API keys they own read as revoked to the gateway."""
    import uuid

    h = await admin_headers(people)
    unit, eid = f"U{uuid.uuid4().hex[:6]}", f"E{uuid.uuid4().hex[:6]}"
    put_unit = await people.client.put(
        f"/api/v1/directory/org-units/{unit}",
        headers=h,
        json={"org_unit_id": unit, "name": "离职测试组", "kind": "team"},
    )
    assert put_unit.status_code in (200, 201), put_unit.text
    person = {
        "employee_id": eid,
        "name": "离职者",
        "org_unit_id": unit,
        "job_role": "salesperson",
        "roles": ["salesperson"],
    }
    url = f"/api/v1/directory/employees/{eid}"
    assert (await people.client.put(url, headers=h, json=person)).status_code == 200
    username = f"u-{eid.lower()}"
    user = await people.client.post(
        "/api/v1/auth/users",
        headers=h,
        json={
            "username": username,
            "password": "leaver-pass-1",
            "employee_id": eid,
            "roles": ["salesperson"],
        },
    )
    assert user.status_code == 201, user.text
    signed_in = await login(people, username, "leaver-pass-1")
    assert signed_in.status_code == 200
    mine = {"authorization": "Bearer " + signed_in.json()["access_token"]}
    assert (await people.client.get(url, headers=mine)).status_code == 200
    key = await people.client.post(
        "/api/v1/auth/api-keys",
        headers=h,
        json={"name": "个人脚本", "roles": ["integration"], "owner": eid},
    )
    assert key.status_code == 201, key.text
    internal = f"/internal/v1/api-keys/{key.json()['key_id']}"
    gateway = {
        "authorization": "Bearer " + people.issuer.issue("service:gateway", [], kind="service")
    }
    state = (await people.client.get(internal, headers=gateway)).json()
    assert state["owner"] == eid and state["revoked"] is False

    left = await people.client.put(url, headers=h, json={**person, "status": "left"})
    assert left.status_code == 200, left.text
    state = (await people.client.get(internal, headers=gateway)).json()
    assert state["revoked"] is True  # the gateway's next look-up refuses the key
    assert (await login(people, username, "leaver-pass-1")).status_code == 401

    async def refused() -> bool:
        return (await people.client.get(url, headers=mine)).status_code == 401

    await eventually(refused)  # within auth_status_refresh_s (1 s)
    assert (await people.client.get(url, headers=h)).status_code == 200  # HR still reads it
