"""Helpers of the security tests: one real platform for every security test (`make run`'s supervisor, ``--no-demo``), and
a small company on it: two teams under one root, one person and one user per role.

    SEC-ROOT (group)
    ├── SEC-TA (team, managed by S-SALES_MANAGER): S-<ROLE> for every role but
    │                                              integration, and S-TEAM
    └── SEC-TB (team, managed by S-MGR-B):         S-OTHER

Targets of the matrix: ``own`` (the caller itself; the integration user is no person),
``team`` (S-TEAM: the sales manager's report, the others' colleague) and ``other``
(S-OTHER, in the other team). Every person has one deal (``D-SEC-<id>``).
"""

from __future__ import annotations

import importlib.util
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from zhanli_shared.auth import Role

ROOT = Path(__file__).resolve().parents[2]


def _load_e2e() -> object:
    """``tests/e2e/test_thin_slice.py`` (no packages under ``tests/``: load it by path)."""
    name = "zl_security_e2e_thin_slice"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "tests/e2e/test_thin_slice.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_e2e = _load_e2e()
start_platform = _e2e.start_platform  # type: ignore[attr-defined]
Platform = _e2e.Platform  # type: ignore[attr-defined]

ROLES = [r.value for r in Role]
PASSWORD = "sec-matrix-pw-1"
ROOT_UNIT, TEAM_A, TEAM_B = "SEC-ROOT", "SEC-TA", "SEC-TB"
TEAM_MEMBER, OTHER_MEMBER, OTHER_MANAGER = "S-TEAM", "S-OTHER", "S-MGR-B"
DEAL_AMOUNT = "1000000.00"


def person_of(role: str) -> str | None:
    return None if role == Role.INTEGRATION else f"S-{role.upper()}"


def username_of(role: str) -> str:
    return f"sec-{role.replace('_', '-')}"


def subject_of(role: str) -> str:
    """The token's ``sub``: the employee id, or the username of a system user."""
    return person_of(role) or username_of(role)


def deal_of(person: str) -> str:
    return f"D-SEC-{person}"


@dataclass
class World:
    platform: object
    base: str
    admin_token: str
    tokens: dict[str, str] = field(default_factory=dict)
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    def client(self, role: str | None) -> httpx.Client:
        """A client with that role's token (``None``: anonymous, ``"admin"``: bootstrap admin)."""
        key = role or "anonymous"
        if key not in self.clients:
            headers = {}
            if role == "admin":
                headers["authorization"] = f"Bearer {self.admin_token}"
            elif role is not None:
                headers["authorization"] = f"Bearer {self.tokens[role]}"
            self.clients[key] = httpx.Client(base_url=self.base, timeout=15, headers=headers)
        return self.clients[key]


@dataclass(frozen=True)
class Raw:
    """A body that is not JSON (an import's CSV file, an uploaded resume)."""

    content: bytes
    content_type: str


def _load_extensions() -> list[Any]:
    """The authorisation rows of each service, ``tests/security/authz_<service>.py``.

    Such a module exports ``TARGETED`` (rows ``(endpoint, role, own, team, other)``),
    ``UNTARGETED`` (endpoint -> one expectation per role, in ``ROLES`` order), ``ROUTES``
    (endpoint -> (METHOD, path template as in the OpenAPI document)), optionally ``PUBLIC``
    (endpoints answered without a token), ``request_for(endpoint, role, target_id) ->
    (method, url, body) | None`` (``None`` for endpoints not its own; ``target_id`` is the
    employee id of the cell's target, or ``None``; a body may be a ``Raw``), and optionally
    ``seed(world)`` to give the security company the data its cells need (called once, after
    the people, users and deals exist)."""
    import importlib

    here = Path(__file__).parent
    return [importlib.import_module(f.stem) for f in sorted(here.glob("authz_*.py"))]


EXTENSIONS = _load_extensions()


def _ok(r: httpx.Response) -> httpx.Response:
    assert r.status_code < 300, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r


def _wait(what: str, probe, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not probe():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def build_world(platform: object) -> World:
    p = platform
    password = (p.var / "keys" / "admin-password").read_text().strip()  # type: ignore[attr-defined]
    world = World(platform=p, base=p.base, admin_token=p.token("admin", password))  # type: ignore[attr-defined]
    admin = world.client("admin")
    people: list[tuple[str, str, str, str | None]] = []  # id, unit, role, manager
    for role in ROLES:
        person = person_of(role)
        if person:
            people.append((person, TEAM_A, role, None))
    people += [
        (TEAM_MEMBER, TEAM_A, Role.SALESPERSON.value, person_of(Role.SALES_MANAGER)),
        (OTHER_MANAGER, TEAM_B, Role.SALES_MANAGER.value, None),
        (OTHER_MEMBER, TEAM_B, Role.SALESPERSON.value, OTHER_MANAGER),
    ]
    units = [
        (ROOT_UNIT, "group", None, None),
        (TEAM_A, "team", ROOT_UNIT, person_of(Role.SALES_MANAGER)),
        (TEAM_B, "team", ROOT_UNIT, OTHER_MANAGER),
    ]
    for unit, kind, parent, manager in units:
        _ok(
            admin.put(
                f"/api/v1/directory/org-units/{unit}",
                json={
                    "org_unit_id": unit,
                    "name": f"安全测试 {unit}",
                    "kind": kind,
                    "parent_id": parent,
                    "manager_id": manager,
                },
            )
        )
    for person, unit, role, manager in people:
        _ok(
            admin.put(
                f"/api/v1/directory/employees/{person}",
                json={
                    "employee_id": person,
                    "name": f"测试 {person}",
                    "org_unit_id": unit,
                    "manager_id": manager,
                    "job_role": role,
                    "roles": [role],
                    "status": "active",
                    "hired_on": "2026-01-05",
                    "phone": "13800000000",
                },
            )
        )
    for role in ROLES:
        body: dict[str, object] = {
            "username": username_of(role),
            "password": PASSWORD,
            "roles": [role],
        }
        if person_of(role):
            body["employee_id"] = person_of(role)
        _ok(admin.post("/api/v1/auth/users", json=body))
    for role in ROLES:
        world.tokens[role] = p.token(username_of(role), PASSWORD)  # type: ignore[attr-defined]

    # The directory reaches commission and kpi as events: wait for every person there.
    everyone = [x[0] for x in people]

    def projected() -> bool:
        for person in everyone:
            for path in (
                f"/api/v1/commission/people/{person}/statement",
                f"/api/v1/kpi/people/{person}/revenue",
            ):
                if admin.get(path).status_code != 200:
                    return False
        return True

    _wait("the directory in commission and kpi", projected)
    for person in everyone:
        _ok(
            admin.post(
                "/api/v1/commission/deals",
                json={
                    "deal_id": deal_of(person),
                    "salesperson_id": person,
                    "customer_name": "安全测试客户",
                    "amount": DEAL_AMOUNT,
                    "currency": "CNY",
                    "closed_at": "2026-11-03T10:00:00+08:00",
                },
            )
        )
    for ext in EXTENSIONS:
        seed = getattr(ext, "seed", None)
        if seed is not None:
            seed(world)
    return world
