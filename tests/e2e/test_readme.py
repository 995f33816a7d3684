"""The README's shell examples, run as written against the platform `make run` starts.

Every ```bash block of README.md carries a mark on the line before it:
``<!-- readme-test: run -->`` (run here, in README order, as one bash script from a
directory whose ``var/`` is the platform's) or ``<!-- readme-test: skip (why) -->``. The
only change made to the text is the gateway's address (``localhost:8000`` -> the free port
of this run). ``curl`` is wrapped to record each call's arguments, HTTP status and body;
every call must succeed (2xx) and the answers must show what the README says they show.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MARK = re.compile(r"^\s*<!-- readme-test: (?:(run)|skip \((.+)\)) -->\s*$")
SHANGHAI = dt.timezone(dt.timedelta(hours=8))

# Records every curl call: its arguments (one a line), its HTTP status, its body.
PRELUDE = r"""
set -euo pipefail
echo 0 > "$RT/n"
curl() {
  local n; n=$(( $(cat "$RT/n") + 1 )); echo "$n" > "$RT/n"
  printf '%s\n' "$@" > "$RT/$n.args"
  command curl -w '%{stderr}%{http_code}' "$@" 2> "$RT/$n.status" | tee "$RT/$n.body"
  echo
}
"""

HRIS_EXPORT = "工号,姓名,部门,上级,职位,手机,入职日期,状态\r\nE0900,欧阳新,B1-T1,E0010,销售,13800000900,2026-11-02,试用\r\n"


@dataclass
class Block:
    line: int  # of the fence, from 1
    run: bool
    why: str | None
    text: str


def bash_blocks(text: str) -> list[Block]:
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        fence = lines[i]
        if fence.strip() == "```bash":
            indent = len(fence) - len(fence.lstrip())
            mark = MARK.match(lines[i - 1]) if i else None
            body = []
            j = i + 1
            while lines[j].strip() != "```":
                body.append(lines[j][indent:])
                j += 1
            blocks.append(
                Block(
                    i + 1,
                    bool(mark and mark.group(1)),
                    mark.group(2) if mark else None,
                    "\n".join(body),
                )
            )
            i = j
        i += 1
    return blocks


def test_every_bash_block_of_the_readme_is_run_or_says_why() -> None:
    blocks = bash_blocks(README.read_text(encoding="utf-8"))
    unmarked = [b.line for b in blocks if not b.run and not b.why]
    assert not unmarked, (
        f"README.md lines {unmarked}: put '<!-- readme-test: run -->' (run by "
        "tests/e2e/test_readme.py) or '<!-- readme-test: skip (why) -->' before each ```bash"
    )
    assert sum(b.run for b in blocks) >= 4


# --- against the platform ------------------------------------------------------------------


@dataclass
class Call:
    n: int
    args: list[str]
    status: int
    body: bytes

    @property
    def url(self) -> str:
        return next(a for a in self.args if "127.0.0.1:" in a)

    @property
    def method(self) -> str:
        if "-X" in self.args:
            return self.args[self.args.index("-X") + 1]
        if any(a in ("-d", "--data-binary") for a in self.args):
            return "POST"
        return "GET"

    def json(self) -> Any:
        return json.loads(self.body)


def _thin_slice() -> Any:
    spec = importlib.util.spec_from_file_location(
        "zhanli_e2e_thin_slice_for_readme", ROOT / "tests/e2e/test_thin_slice.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _demo() -> Any:
    spec = importlib.util.spec_from_file_location(
        "zhanli_demo_for_readme", ROOT / "deploy/embedded/demo.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def last_month() -> str:
    first = dt.datetime.now(SHANGHAI).replace(day=1)
    return f"{first - dt.timedelta(days=1):%Y-%m}"


def until(fetch: Callable[[], Any], done: Callable[[Any], bool], seconds: float = 180.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = fetch()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"not reached within {seconds}s: {value!r}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, list[Call]]]:
    """One platform (the embedded supervisor with the demo company, free ports, a temporary
    var dir) and the README's runnable blocks run against it once."""
    for platform in _thin_slice().start_platform(tmp_path_factory.mktemp("readme")):
        yield platform, run_readme(platform)


def run_readme(platform: Any) -> list[Call]:
    admin = platform.admin()
    last_deal = _demo().generate().deals[-1]["deal_id"]  # E0011's, paid last month
    # What a newcomer finds a moment after `make run`: the demo's money is priced (the
    # statements example closes last month, with the demo's last payment in it).
    until(
        lambda: admin.get(
            "/api/v1/commission/people/E0011/statement", params={"period": last_month()}
        ).json(),
        lambda s: any(line["deal_id"] == last_deal for line in s.get("lines", [])),
    )
    port = platform.base.rsplit(":", 1)[1]
    script = "\n".join(b.text for b in bash_blocks(README.read_text(encoding="utf-8")) if b.run)
    assert "localhost:8000" in script
    script = script.replace("localhost:8000", f"127.0.0.1:{port}")
    assert ":8000" not in script and ":9092" not in script
    work = platform.var.parent  # the README's commands run from where var/ is
    (work / "hris-export.csv").write_bytes(HRIS_EXPORT.encode("gbk"))
    records = work / "curl-calls"
    records.mkdir()
    done = subprocess.run(
        ["bash", "-c", PRELUDE + script],
        cwd=work,
        env={**os.environ, "RT": str(records)},
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 0, (
        f"exit {done.returncode}\n--- stdout\n{done.stdout.decode(errors='replace')}"
        f"\n--- stderr\n{done.stderr.decode(errors='replace')}"
    )
    count = int((records / "n").read_text())
    calls = [
        Call(
            n,
            (records / f"{n}.args").read_text().splitlines(),
            int((records / f"{n}.status").read_text() or 0),
            (records / f"{n}.body").read_bytes(),
        )
        for n in range(1, count + 1)
    ]
    return calls


def against_the_platform(test: Callable[..., None]) -> Callable[..., None]:
    """The marks of the tests that use the platform (the first one starts it: 900 s)."""
    for mark in (pytest.mark.e2e, pytest.mark.xdist_group("e2e"), pytest.mark.timeout(900)):
        test = mark(test)
    return test


def find(calls: list[Call], method: str, path: str) -> list[Call]:
    """The calls of ``method`` on a URL ending with ``path`` (query string aside)."""
    return [c for c in calls if c.method == method and c.url.split("?")[0].endswith(path)]


@against_the_platform
def test_every_readme_command_succeeds(ran: tuple[Any, list[Call]]) -> None:
    _, calls = ran
    assert len(calls) > 25
    failed = [
        (c.n, c.method, c.url, c.status, c.body[:300]) for c in calls if not 200 <= c.status < 300
    ]
    assert failed == []


@against_the_platform
def test_the_thin_slice_pays_commission_and_counts_revenue(ran: tuple[Any, list[Call]]) -> None:
    platform, calls = ran
    (pay,) = find(calls, "POST", "/api/v1/commission/payments")
    assert pay.status == 201
    assert {k: pay.json()[k] for k in ("payment_id", "deal_id", "salesperson_id")} == {
        "payment_id": "P-try-1",
        "deal_id": "D00001",
        "salesperson_id": "E0011",
    }
    assert Decimal(pay.json()["amount"]) == Decimal("100.00")
    this_month = f"{dt.datetime.now(SHANGHAI):%Y-%m}"
    (statement,) = find(calls, "GET", "/api/v1/commission/people/E0011/statement")
    assert statement.json()["salesperson_id"] == "E0011"
    assert statement.json()["period"] == this_month
    (revenue,) = find(calls, "GET", "/api/v1/kpi/people/E0011/revenue")
    assert revenue.json()["employee_id"] == "E0011" and revenue.json()["period"] == this_month
    # "P-try-1's within a moment", "the 100.00 collected included"
    admin = platform.admin()
    lines = until(
        lambda: admin.get("/api/v1/commission/people/E0011/statement").json()["lines"],
        lambda ls: any(line["payment_id"] == "P-try-1" for line in ls),
    )
    (line,) = [line for line in lines if line["payment_id"] == "P-try-1"]
    assert line["deal_id"] == "D00001" and Decimal(line["amount"]) > 0
    until(
        lambda: admin.get("/api/v1/kpi/people/E0011/revenue").json(),
        lambda r: Decimal(r["collected"]) >= Decimal("100.00"),
    )


@against_the_platform
def test_the_hris_import_shows_then_applies_the_file(ran: tuple[Any, list[Call]]) -> None:
    platform, calls = ran
    dry, applied = find(calls, "POST", "/api/v1/directory/imports")
    assert dry.json()["dry_run"] is True and dry.json()["rows_read"] == 1
    assert applied.json()["dry_run"] is False and applied.json()["rows_applied"] == 1
    (progress,) = [c for c in calls if "/api/v1/directory/imports/" in c.url]
    assert progress.json()["id"] == applied.json()["id"]
    assert progress.json()["status"] == "succeeded"
    person = platform.admin().get("/api/v1/directory/employees/E0900").json()
    assert person["name"] == "欧阳新" and person["org_unit_id"] == "B1-T1"


@against_the_platform
def test_an_api_key_reads_a_deal_and_becomes_a_token(ran: tuple[Any, list[Call]]) -> None:
    _, calls = ran
    (created,) = find(calls, "POST", "/api/v1/auth/api-keys")
    assert created.status == 201
    key = created.json()["api_key"]
    assert key.startswith("zl_") and created.json()["roles"] == ["integration"]
    (deal,) = find(calls, "GET", "/api/v1/commission/deals/D00001")
    assert "-H" in deal.args and f"X-API-Key: {key}" in deal.args
    assert deal.json()["deal_id"] == "D00001"
    (listed,) = find(calls, "GET", "/api/v1/auth/api-keys")
    assert key.split("_")[2].encode() not in listed.body  # never a secret
    assert created.json()["key_id"] in listed.body.decode()
    (token,) = find(calls, "POST", "/api/v1/auth/oauth/token")
    assert token.json()["token_type"] == "Bearer" and token.json()["scope"] == "integration"
    (revoked,) = find(calls, "DELETE", f"/api/v1/auth/api-keys/{created.json()['key_id']}")
    assert revoked.status in (200, 204)


@against_the_platform
def test_last_month_is_closed_approved_paid_and_a_line_disputed(
    ran: tuple[Any, list[Call]],
) -> None:
    platform, calls = ran
    period = last_month()
    (closed,) = find(calls, "POST", f"/api/v1/commission/periods/{period}/close")
    assert closed.json()["period"] == period and closed.json()["closed"] >= 1
    first_read, second_read = find(
        calls, "GET", f"/api/v1/commission/people/E0011/statements/{period}"
    )
    assert first_read.json()["status"] == "closed" and first_read.json()["lines"]
    approvals = find(calls, "POST", f"/api/v1/commission/people/E0011/statements/{period}/approve")
    assert [a.json()["status"] for a in approvals] == ["manager_approved", "payable"]
    (batch,) = find(calls, "POST", "/api/v1/commission/payouts")
    assert batch.status == 201 and batch.json()["period"] == period
    assert any(item["salesperson_id"] == "E0011" for item in batch.json()["items"])
    work = platform.var.parent
    csv = (work / "payout.csv").read_bytes()
    assert csv.startswith("\ufeff".encode()) and b"E0011" in csv
    assert (work / "payout.xlsx").read_bytes()[:2] == b"PK"
    (paid,) = find(calls, "POST", f"/api/v1/commission/payouts/{batch.json()['batch_id']}/paid")
    assert paid.json()["status"] == "paid" and paid.json()["payment_reference"] == f"工资 {period}"
    assert second_read.json()["status"] == "paid"
    (dispute,) = [c for c in calls if c.url.endswith("/disputes") and c.method == "POST"]
    assert dispute.status == 201 and dispute.json()["status"] == "open"
    assert dispute.json()["commission_id"] == second_read.json()["lines"][0]["commission_id"]
    (resolved,) = find(
        calls, "POST", f"/api/v1/commission/disputes/{dispute.json()['dispute_id']}/resolve"
    )
    assert resolved.json()["status"] == "accepted"
    assert Decimal(resolved.json()["adjustment_amount"]) == Decimal("400.00")
    assert resolved.json()["adjustment_period"] != period  # the paid statement stays as it was
