"""Schemathesis fuzzing of the aggregated OpenAPI document against the running platform.

Real processes (the embedded supervisor, ``--no-demo``), the bootstrap administrator's
token (hr_admin + it_ops, so most cases get past authorisation), positive and negative
cases, at most ``MAX_EXAMPLES`` per operation. Checks: no 5xx (schemathesis's
``not_a_server_error``) and every 4xx is ``application/problem+json``.

The operations of the authorisation matrix have a test each; every other operation in the
document (added since) is fuzzed by ``test_fuzz_other_operations`` so that nothing in the
document goes unfuzzed. An operation known to answer 5xx gets ``xfail(strict=True)`` in
``KNOWN_5XX`` with the reproduction.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from test_authz_matrix import PUBLIC, ROUTES
from zl_seckit import World

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("security")]

MAX_EXAMPLES = 25
RFC6749_PATHS = {"/api/v1/auth/oauth/token"}
RFC6749_ERRORS = {
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
}
HTTP_METHODS = {"get", "put", "post", "delete", "patch"}
OPERATIONS = sorted(
    {route for key, route in ROUTES.items() if key not in PUBLIC}
    | {("POST", "/api/v1/auth/token"), ("POST", "/api/v1/auth/oauth/token")}
)
# (method, path) -> (reason, reproduction query) of a 5xx this suite found; the operation's
# test becomes xfail(strict=True) and first sends the reproduction (so it fails every run
# while the bug is there, whatever the fuzzer draws, and XPASSes, failing, once fixed).
KNOWN_5XX: dict[tuple[str, str], tuple[str, str]] = {}
# 5xx found by this suite and fixed since, kept as regression cases: they must be a 422.
FIXED_5XX = [
    ("/api/v1/directory/employees", "offset=9223372036854775808"),
    ("/api/v1/audit/entries", "cursor=9223372036854775808"),
]


@pytest.mark.parametrize(("path", "query"), FIXED_5XX)
def test_fixed_overflow_5xx_is_a_validation_problem(world: World, path: str, query: str) -> None:
    r = world.client("hr_admin").get(f"{path}?{query}")
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"


@pytest.fixture(scope="module")
def fuzz_schema(world: World) -> Any:
    doc = world.client(None).get("/api/v1/openapi.json").json()
    assert "x-zhanli-unavailable" not in doc, doc["x-zhanli-unavailable"]
    return schemathesis.openapi.from_dict(doc)


def fuzz_operation(world: World, schema: Any, method: str, path: str) -> int:
    """Fuzz one operation; raises on the first failing case (shrunk). Returns the count."""
    operation = schema[path][method]
    headers = {"authorization": f"Bearer {world.admin_token}"}
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE, headers=headers),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE, headers=headers),
    )
    calls = 0

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        nonlocal calls
        calls += 1
        response = case.call(base_url=world.base, timeout=10)
        case.validate_response(response, checks=[not_a_server_error])
        if 400 <= response.status_code < 500:
            ctype = response.headers.get("content-type") or [""]
            ctype = ctype[0] if isinstance(ctype, list) else ctype
            if path in RFC6749_PATHS and response.status_code in (400, 401):
                # OAuth2 errors are RFC 6749 5.2 JSON, not problem+json
                assert ctype.split(";")[0] == "application/json", ctype
                assert response.json()["error"] in RFC6749_ERRORS, response.text
                return
            assert ctype.split(";")[0] == "application/problem+json", (
                f"{method} {path} -> {response.status_code} with {ctype!r}\n"
                f"{case.as_curl_command()}\n{response.text[:500]}"
            )

    run()
    return calls


def _params() -> list[Any]:
    params = []
    for method, path in OPERATIONS:
        marks = []
        if (method, path) in KNOWN_5XX:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_5XX[(method, path)][0]))
        params.append(pytest.param(method, path, marks=marks, id=f"{method} {path}"))
    return params


@pytest.mark.parametrize(("method", "path"), _params())
def test_fuzz(world: World, fuzz_schema: Any, method: str, path: str) -> None:
    if (method, path) in KNOWN_5XX:
        query = KNOWN_5XX[(method, path)][1]
        r = world.client("admin").request(method, f"{path}?{query}")
        assert r.status_code < 500, f"{method} {path}?{query} -> {r.status_code} {r.text}"
    assert fuzz_operation(world, fuzz_schema, method, path) > 0


def test_fuzz_other_operations(world: World, fuzz_schema: Any) -> None:
    """Operations of the document outside the matrix (new routes): fuzzed all in one, with
    every failure collected."""
    doc = world.client(None).get("/api/v1/openapi.json").json()
    others = sorted(
        (m.upper(), p)
        for p, item in doc["paths"].items()
        if p.startswith("/api/v1/")
        for m in item
        if m in HTTP_METHODS and (m.upper(), p) not in OPERATIONS
    )
    failures = []
    for method, path in others:
        if (method, path) in KNOWN_5XX:
            continue
        try:
            fuzz_operation(world, fuzz_schema, method, path)
        except Exception as exc:
            failures.append(f"{method} {path}: {str(exc)[:2000]}")
    assert not failures, "\n\n".join(failures)
