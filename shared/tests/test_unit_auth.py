"""auth.TokenVerifier against forged and broken tokens; Principal.can_view_pay."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest

from zhanli_shared.auth import Principal, TokenIssuer, TokenVerifier, generate_rsa_keypair
from zhanli_shared.errors import Unauthorized
from zhanli_shared.testing.plugin import TEST_AUDIENCE, TEST_ISSUER


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(dt.datetime.now(dt.UTC).timestamp())
    base: dict[str, Any] = {
        "iss": TEST_ISSUER,
        "aud": TEST_AUDIENCE,
        "sub": "e-1",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "roles": ["salesperson"],
        "org_units": [],
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


@pytest.fixture(scope="module")
def verifier(keypair: tuple[str, str]) -> TokenVerifier:
    return TokenVerifier(
        issuer=TEST_ISSUER,
        audience=TEST_AUDIENCE,
        algorithms=["RS256"],
        public_key=keypair[1],
        leeway_s=30,
    )


def sign(keypair: tuple[str, str], payload: dict[str, Any]) -> str:
    return jwt.encode(payload, keypair[0], algorithm="RS256")


def test_valid_token_yields_a_principal(verifier: TokenVerifier, issuer: TokenIssuer) -> None:
    token = issuer.issue(
        "e-42", ["sales_manager", "mentor"], org_units=["ou-east", "team-1"], name="Li Lei"
    )
    p = verifier.verify(token)
    assert p.subject == "e-42"
    assert p.roles == frozenset({"sales_manager", "mentor"})
    assert p.org_units == frozenset({"ou-east", "team-1"})
    assert p.name == "Li Lei"
    assert p.kind == "user"
    assert p.token_id


def test_alg_none_is_refused(verifier: TokenVerifier) -> None:
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims(roles=["hr_admin"])).encode())
    for token in (f"{header}.{payload}.", f"{header}.{payload}"):
        with pytest.raises(Unauthorized):
            verifier.verify(token)


def test_hs256_signed_with_the_public_key_is_refused(
    verifier: TokenVerifier, keypair: tuple[str, str]
) -> None:
    """Algorithm confusion: an attacker HMACs a token with the (public) verification key."""
    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims(roles=["hr_admin"])).encode())
    signing_input = f"{header}.{payload}".encode()
    for secret in (keypair[1].encode(), keypair[1].strip().encode()):
        sig = b64(hmac.new(secret, signing_input, hashlib.sha256).digest())
        with pytest.raises(Unauthorized):
            verifier.verify(f"{header}.{payload}.{sig}")


def test_hmac_algorithms_cannot_even_be_configured(keypair: tuple[str, str]) -> None:
    with pytest.raises(ValueError):
        TokenVerifier(issuer="i", audience="a", algorithms=["HS256"], public_key=keypair[1])
    mixed = TokenVerifier(
        issuer=TEST_ISSUER,
        audience=TEST_AUDIENCE,
        algorithms=["HS256", "RS256"],
        public_key=keypair[1],
    )
    assert mixed.algorithms == ["RS256"]


def test_expired_token_is_refused(
    verifier: TokenVerifier, issuer: TokenIssuer, keypair: tuple[str, str]
) -> None:
    with pytest.raises(Unauthorized, match="expired"):
        verifier.verify(issuer.issue("e-1", ["finance"], ttl_s=-3600))
    now = int(dt.datetime.now(dt.UTC).timestamp())
    with pytest.raises(Unauthorized):  # just past the leeway
        verifier.verify(sign(keypair, claims(iat=now - 600, nbf=now - 600, exp=now - 31)))


@pytest.mark.parametrize(
    ("iss", "aud"),
    [("evil-issuer", TEST_AUDIENCE), (TEST_ISSUER, "another-audience")],
    ids=["wrong-issuer", "wrong-audience"],
)
def test_wrong_issuer_or_audience_is_refused(
    verifier: TokenVerifier, keypair: tuple[str, str], iss: str, aud: str
) -> None:
    forged = TokenIssuer(keypair[0], issuer=iss, audience=aud)
    with pytest.raises(Unauthorized):
        verifier.verify(forged.issue("e-1", ["hr_admin"]))


@pytest.mark.parametrize("missing", ["sub", "exp", "iss", "aud", "iat"])
def test_missing_required_claims_are_refused(
    verifier: TokenVerifier, keypair: tuple[str, str], missing: str
) -> None:
    with pytest.raises(Unauthorized):
        verifier.verify(sign(keypair, claims(**{missing: None})))


def test_tampered_payload_is_refused(verifier: TokenVerifier, issuer: TokenIssuer) -> None:
    token = issuer.issue("e-1", ["salesperson"])
    header, payload, sig = token.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["roles"] = ["hr_admin"]
    forged = f"{header}.{b64(json.dumps(data).encode())}.{sig}"
    with pytest.raises(Unauthorized):
        verifier.verify(forged)
    # and the untouched token is fine, so the refusal above is about the tampering
    assert verifier.verify(token).roles == frozenset({"salesperson"})


def test_token_of_another_key_is_refused(verifier: TokenVerifier) -> None:
    other_private, _ = generate_rsa_keypair()
    stranger = TokenIssuer(other_private, issuer=TEST_ISSUER, audience=TEST_AUDIENCE)
    with pytest.raises(Unauthorized):
        verifier.verify(stranger.issue("e-1", ["hr_admin"]))


@pytest.mark.parametrize(
    "bad",
    [
        {"roles": "hr_admin"},
        {"roles": {"hr_admin": True}},
        {"org_units": "ou-root"},
        {"roles": None, "org_units": 5},
    ],
)
def test_roles_and_org_units_must_be_lists(
    verifier: TokenVerifier, keypair: tuple[str, str], bad: dict[str, Any]
) -> None:
    payload = claims()
    payload.update(bad)
    with pytest.raises(Unauthorized):
        verifier.verify(sign(keypair, payload))


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "Bearer x.y.z"])
def test_garbage_is_refused(verifier: TokenVerifier, token: str) -> None:
    with pytest.raises(Unauthorized):
        verifier.verify(token)


# --- Principal.can_view_pay ----------------------------------------------------------------

PATH = ["root", "ou-east", "team-1"]  # the target employee's unit and the units above it


def principal(
    subject: str = "e-me", roles: tuple[str, ...] = (), org_units: tuple[str, ...] = ()
) -> Principal:
    return Principal(subject=subject, roles=frozenset(roles), org_units=frozenset(org_units))


def test_a_person_sees_their_own_pay() -> None:
    assert principal("e-7").can_view_pay("e-7", PATH)
    assert principal("e-7", roles=("salesperson",)).can_view_pay("e-7", PATH)


def test_a_colleague_does_not_see_pay() -> None:
    assert not principal("e-8", roles=("salesperson",)).can_view_pay("e-7", PATH)


@pytest.mark.parametrize("role", ["hr_admin", "hr_bp", "finance"])
def test_finance_and_hr_see_everyones_pay(role: str) -> None:
    assert principal(roles=(role,)).can_view_pay("e-7", PATH)


@pytest.mark.parametrize(
    "role",
    ["executive", "recruiter", "mentor", "it_ops", "integration", "sales_manager", "salesperson"],
)
def test_other_roles_do_not_see_pay_outside_their_chain(role: str) -> None:
    assert not principal(roles=(role,), org_units=("ou-west",)).can_view_pay("e-7", PATH)


def test_executives_see_people_but_not_their_pay() -> None:
    exec_ = principal(roles=("executive",))
    assert exec_.can_view_person("e-7", PATH)
    assert not exec_.can_view_pay("e-7", PATH)


@pytest.mark.parametrize("managed", ["root", "ou-east", "team-1"])
def test_the_management_chain_sees_pay(managed: str) -> None:
    assert principal(roles=("sales_manager",), org_units=(managed,)).can_view_pay("e-7", PATH)


def test_a_manager_below_does_not_see_pay_above() -> None:
    """The manager of team-1 does not see the pay of the head of ou-east."""
    team_lead = principal(roles=("sales_manager",), org_units=("team-1",))
    assert not team_lead.can_view_pay("e-head", ["root", "ou-east"])


def test_verified_tokens_are_cached_only_until_they_expire(
    keypair: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    import zhanli_shared.auth as auth_module

    verifier = TokenVerifier(
        issuer=TEST_ISSUER,
        audience=TEST_AUDIENCE,
        algorithms=["RS256"],
        public_key=keypair[1],
        leeway_s=0,
    )
    issuer = TokenIssuer(keypair[0], issuer=TEST_ISSUER, audience=TEST_AUDIENCE)
    token = issuer.issue("E1", ["salesperson"], ttl_s=600)
    calls = []
    real = verifier._verify

    def counting(t: str):  # type: ignore[no-untyped-def]
        calls.append(t)
        return real(t)

    verifier._verify = counting  # type: ignore[method-assign]
    assert verifier.verify(token).subject == "E1"
    assert verifier.verify(token).subject == "E1"
    assert len(calls) == 1  # the second answer came from the cache
    # Past the token's expiry (as the cache sees time) the token is verified again.
    later = time.time() + 601
    monkeypatch.setattr(auth_module.time, "time", lambda: later)
    assert verifier.verify(token).subject == "E1"  # (still valid by the signature's clock)
    assert len(calls) == 2  # ... but no longer answered from the cache


HOSTILE_KIDS = [
    "../../etc/passwd",
    "/etc/passwd",
    "..",
    "' OR 1=1--",
    "1; DROP TABLE api_keys",
    "http://evil.example/jwks.json",
    "kid\x00",
    "x" * 65,
    "",
]


@pytest.mark.parametrize("kid", [*HOSTILE_KIDS, 7, ["a"], {"a": 1}])
def test_a_kid_that_is_a_path_sql_or_url_is_refused_before_any_key_lookup(
    keypair: tuple[str, str], kid: Any
) -> None:
    """A hostile ``kid`` never reaches the key look-up (JWKS, file, database): 401 at once.
    The token is otherwise perfect, signed with the trusted key."""
    verifier = TokenVerifier(
        issuer=TEST_ISSUER,
        audience=TEST_AUDIENCE,
        algorithms=["RS256"],
        public_key=keypair[1],
    )
    looked_up: list[str] = []

    def keys_for(token: str, kid: Any) -> Any:
        looked_up.append(token)
        raise AssertionError("the key look-up must not run")

    verifier.issuers[TEST_ISSUER].keys_for = keys_for  # type: ignore[method-assign]
    header = {"alg": "RS256", "typ": "JWT", "kid": kid}
    signing_input = (
        b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims()).encode())
    ).encode()
    algorithm = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA256)
    signature = algorithm.sign(signing_input, algorithm.prepare_key(keypair[0]))
    token = signing_input.decode() + "." + b64(signature)
    with pytest.raises(Unauthorized, match=r"key id|malformed"):
        verifier.verify(token)
    assert looked_up == []


@pytest.mark.parametrize("header", ["jku", "x5u", "jwk", "x5c"])
def test_a_token_naming_where_its_key_is_is_refused(keypair: tuple[str, str], header: str) -> None:
    verifier = TokenVerifier(
        issuer=TEST_ISSUER, audience=TEST_AUDIENCE, algorithms=["RS256"], public_key=keypair[1]
    )
    token = jwt.encode(
        claims(), keypair[0], algorithm="RS256", headers={header: "https://evil.example/k"}
    )
    with pytest.raises(Unauthorized, match="where their key is"):
        verifier.verify(token)


@pytest.mark.parametrize("kid", ["zhanli-local-1", "2026-12.rsa_A", "k"])
def test_plain_kids_still_verify(keypair: tuple[str, str], kid: str) -> None:
    verifier = TokenVerifier(
        issuer=TEST_ISSUER, audience=TEST_AUDIENCE, algorithms=["RS256"], public_key=keypair[1]
    )
    token = TokenIssuer(keypair[0], issuer=TEST_ISSUER, audience=TEST_AUDIENCE, key_id=kid).issue(
        "e-1", ["salesperson"]
    )
    assert verifier.verify(token).subject == "e-1"


async def test_subject_status_rereads_who_has_left_at_most_every_refresh() -> None:
    from zhanli_shared.auth import SubjectStatus

    now = [0.0]
    left: set[str] = set()
    loads = []

    async def load() -> set[str]:
        loads.append(now[0])
        return set(left)

    status = SubjectStatus(load, refresh_s=1.0, clock=lambda: now[0])
    assert not await status.inactive("E1")
    left.add("E1")
    assert not await status.inactive("E1")  # within the refresh: the set read at 0.0
    now[0] = 1.0
    assert await status.inactive("E1")  # re-read
    assert loads == [0.0, 1.0]
    status.mark("E1", active=True)  # a change applied in this process: at once
    assert not await status.inactive("E1")
    status.mark("E2", active=False)
    assert await status.inactive("E2")
