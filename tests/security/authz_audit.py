"""Authorisation rows of the audit service's checkpoints (merged into test_authz_matrix.py).

The audit log's readers (hr_admin, it_ops, executive) may have a signed checkpoint of the
chain and verify the chain against checkpoints kept elsewhere; nobody else. A checkpoint
that was never signed is refused (422) after the role check.
"""

from __future__ import annotations

from typing import Any

OK, NO, NF, CF, UN = "2xx", 403, 404, 409, 422

TARGETED: list[tuple[str, str, Any, Any, Any]] = []

# columns: hr_admin hr_bp recruiter sales_manager mentor salesperson finance executive
#          it_ops integration
UNTARGETED: dict[str, tuple[Any, ...]] = {
    "audit.checkpoint.get": (OK, NO, NO, NO, NO, NO, NO, OK, OK, NO),
    "audit.verify.post": (UN, NO, NO, NO, NO, NO, NO, UN, UN, NO),
}

ROUTES: dict[str, tuple[str, str]] = {
    "audit.checkpoint.get": ("GET", "/api/v1/audit/checkpoint"),
    "audit.verify.post": ("POST", "/api/v1/audit/verify"),
}

UNSIGNED = {
    "format": "zhanli-audit-checkpoint/1",
    "issuer": "zhanli-local",
    "kid": "zhanli-local-1",
    "sequence": 1,
    "hash": "0" * 64,
    "signed_at": "2026-12-05T00:00:00+00:00",
    "signature": "e30.e30.c2ln",  # a JWS nobody signed
}


def request_for(endpoint: str, role: str, target: str | None) -> tuple[str, str, Any] | None:
    if endpoint == "audit.checkpoint.get":
        return "GET", "/api/v1/audit/checkpoint", None
    if endpoint == "audit.verify.post":
        return "POST", "/api/v1/audit/verify", {"checkpoints": [UNSIGNED]}
    return None
