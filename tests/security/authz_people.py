"""Authorisation rows of the people service's routes added since the matrix's own rows
(merged by ``zl_seckit.EXTENSIONS``)."""

from __future__ import annotations

from typing import Any

OK, NO, NF = "2xx", 403, 404

TARGETED: list[tuple[str, str, Any, Any, Any]] = []

# columns: hr_admin hr_bp recruiter sales_manager mentor salesperson finance executive
#          it_ops integration
UNTARGETED: dict[str, tuple[Any, ...]] = {
    # Separations are directory writes (HR and the HRIS integration); the person of the cell
    # does not exist, so an allowed writer gets 404 and nobody of the security company leaves
    "directory.employee.separation.put": (NF, NF, NO, NO, NO, NO, NO, NO, NO, NF),
}

ROUTES: dict[str, tuple[str, str]] = {
    "directory.employee.separation.put": (
        "PUT",
        "/api/v1/directory/employees/{employee_id}/separation",
    ),
}

NOBODY = "SX-NOBODY-LEFT"


def request_for(endpoint: str, role: str, target: str | None) -> tuple[str, str, Any] | None:
    if endpoint == "directory.employee.separation.put":
        body = {"separated_on": "2026-11-30", "reason": "resignation", "reason_detail": "测试"}
        return "PUT", f"/api/v1/directory/employees/{NOBODY}/separation", body
    return None
