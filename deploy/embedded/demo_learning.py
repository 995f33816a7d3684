"""The demo company's learning data: a bilingual catalogue (skills, ~40 courses with
prerequisites, the salesperson's competency profile), a mentor per sales team, and for each
salesperson in probation an initial assessment (retail-experienced, no sales experience but
a fast learner, or mixed: so paths differ), their mentor, some progress and, for a few, a
re-assessment whose improvement reaches commission's flexible probation target."""

from __future__ import annotations

import datetime as dt
import random
import time
from typing import Any

import httpx

SEED = 2026
FAMILY = "salesperson"
SKILLS = {
    # id: (zh, en, category)
    "sales_basics": ("销售基础", "Sales basics", "sales_skills"),
    "prospecting": ("客户开发", "Prospecting", "sales_skills"),
    "negotiation": ("商务谈判", "Negotiation", "sales_skills"),
    "online_communication": ("线上客户沟通", "Online client communication", "sales_skills"),
    "live_selling": ("直播销售", "Live-stream selling", "sales_skills"),
    "freight_basics": ("货代基础", "Freight-forwarding basics", "industry_knowledge"),
    "trade_compliance": ("进出口合规", "Trade compliance", "industry_knowledge"),
    "ocean_product": ("海运产品", "Ocean freight products", "product_knowledge"),
    "air_product": ("空运产品", "Air freight products", "product_knowledge"),
    "customs_product": ("报关服务", "Customs services", "product_knowledge"),
    "platform_rules": ("电商平台规则", "E-commerce platform rules", "platform_skills"),
    "crm_usage": ("CRM 使用", "Using the CRM", "platform_skills"),
    "learning_agility": ("学习能力", "Learning agility", "personal"),
}
PROFILE = {
    "sales_basics": 60,
    "prospecting": 60,
    "negotiation": 60,
    "online_communication": 60,
    "live_selling": 40,
    "freight_basics": 60,
    "trade_compliance": 50,
    "ocean_product": 60,
    "air_product": 50,
    "customs_product": 40,
    "platform_rules": 60,
    "crm_usage": 50,
}
# id, zh, en, format, minutes, {skill: points}, prerequisites, required, quiz pass mark
COURSES: list[tuple[str, str, str, str, int, dict[str, int], list[str], bool, int | None]] = [
    ("ONB-101", "公司与产品导览", "Company and product tour", "classroom", 120, {}, [], True, None),
    (
        "ONB-102",
        "合规与信息安全",
        "Compliance and information security",
        "online",
        60,
        {"trade_compliance": 10},
        [],
        True,
        80,
    ),
    ("CRM-101", "CRM 入门", "CRM essentials", "online", 60, {"crm_usage": 40}, [], False, None),
    (
        "CRM-201",
        "用 CRM 管理商机",
        "Managing opportunities in the CRM",
        "video",
        90,
        {"crm_usage": 30},
        ["CRM-101"],
        False,
        None,
    ),
    (
        "SAL-101",
        "销售基础",
        "Sales fundamentals",
        "online",
        180,
        {"sales_basics": 40},
        [],
        False,
        70,
    ),
    (
        "SAL-102",
        "顾问式销售",
        "Consultative selling",
        "classroom",
        240,
        {"sales_basics": 30, "negotiation": 10},
        ["SAL-101"],
        False,
        None,
    ),
    (
        "PRO-101",
        "客户开发：寻找与筛选",
        "Prospecting: finding and qualifying",
        "online",
        120,
        {"prospecting": 35},
        ["SAL-101"],
        False,
        None,
    ),
    (
        "PRO-201",
        "电话与微信开发",
        "Phone and WeChat outreach",
        "video",
        90,
        {"prospecting": 25, "online_communication": 10},
        ["PRO-101"],
        False,
        None,
    ),
    (
        "PRO-301",
        "陪同拜访实战",
        "Accompanied client visits",
        "mentor_task",
        240,
        {"prospecting": 25, "negotiation": 15},
        ["PRO-101"],
        False,
        None,
    ),
    (
        "NEG-101",
        "谈判基础",
        "Negotiation basics",
        "online",
        120,
        {"negotiation": 35},
        ["SAL-101"],
        False,
        70,
    ),
    (
        "NEG-201",
        "运价谈判与报价",
        "Freight rate negotiation and quoting",
        "classroom",
        180,
        {"negotiation": 30, "ocean_product": 10},
        ["NEG-101", "FRT-101"],
        False,
        None,
    ),
    (
        "NEG-301",
        "导师带教：模拟谈判",
        "Mentor-led negotiation role-play",
        "mentor_task",
        120,
        {"negotiation": 20},
        ["NEG-101"],
        False,
        None,
    ),
    (
        "FRT-101",
        "货代基础",
        "Freight-forwarding basics",
        "online",
        240,
        {"freight_basics": 40},
        [],
        False,
        70,
    ),
    (
        "FRT-201",
        "货代操作实务",
        "Freight-forwarding operations",
        "classroom",
        300,
        {"freight_basics": 30, "customs_product": 10},
        ["FRT-101"],
        False,
        None,
    ),
    (
        "FRT-202",
        "国际贸易术语",
        "Incoterms in practice",
        "video",
        90,
        {"freight_basics": 15, "trade_compliance": 15},
        ["FRT-101"],
        False,
        None,
    ),
    (
        "CMP-201",
        "进出口合规",
        "Import/export compliance",
        "online",
        150,
        {"trade_compliance": 40},
        ["FRT-101"],
        False,
        80,
    ),
    (
        "OCN-101",
        "海运产品入门",
        "Ocean freight products",
        "online",
        120,
        {"ocean_product": 40},
        ["FRT-101"],
        False,
        None,
    ),
    (
        "OCN-201",
        "航线与船期",
        "Routes and sailing schedules",
        "video",
        90,
        {"ocean_product": 25},
        ["OCN-101"],
        False,
        None,
    ),
    (
        "AIR-101",
        "空运产品入门",
        "Air freight products",
        "online",
        120,
        {"air_product": 45},
        ["FRT-101"],
        False,
        None,
    ),
    (
        "CUS-101",
        "报关服务入门",
        "Customs services",
        "online",
        90,
        {"customs_product": 40},
        ["FRT-101"],
        False,
        None,
    ),
    (
        "ECM-101",
        "电商平台规则",
        "E-commerce platform rules",
        "online",
        120,
        {"platform_rules": 40},
        [],
        False,
        70,
    ),
    (
        "ECM-201",
        "平台店铺运营",
        "Running a platform shop",
        "video",
        150,
        {"platform_rules": 30},
        ["ECM-101"],
        False,
        None,
    ),
    (
        "ONL-101",
        "线上客户沟通",
        "Online client communication",
        "online",
        120,
        {"online_communication": 40},
        [],
        False,
        None,
    ),
    (
        "ONL-201",
        "线上沟通进阶",
        "Advanced online communication",
        "video",
        90,
        {"online_communication": 25},
        ["ONL-101"],
        False,
        None,
    ),
    (
        "LIV-101",
        "直播销售话术",
        "Live-stream selling scripts",
        "live",
        120,
        {"live_selling": 35},
        ["ONL-101"],
        False,
        None,
    ),
    (
        "LIV-201",
        "直播复盘",
        "Live-stream reviews",
        "mentor_task",
        90,
        {"live_selling": 20},
        ["LIV-101"],
        False,
        None,
    ),
]
RETAIL = {
    "sales_basics": 85,
    "prospecting": 70,
    "negotiation": 75,
    "online_communication": 20,
    "live_selling": 5,
    "freight_basics": 55,
    "trade_compliance": 45,
    "ocean_product": 50,
    "air_product": 45,
    "customs_product": 35,
    "platform_rules": 15,
    "crm_usage": 55,
    "learning_agility": 60,
}
NEWCOMER = {
    "sales_basics": 15,
    "prospecting": 10,
    "negotiation": 10,
    "online_communication": 65,
    "live_selling": 45,
    "freight_basics": 20,
    "trade_compliance": 20,
    "ocean_product": 25,
    "air_product": 20,
    "customs_product": 20,
    "platform_rules": 70,
    "crm_usage": 55,
    "learning_agility": 90,
}


def _ok(resp: httpx.Response) -> httpx.Response:
    if resp.status_code >= 400:
        raise RuntimeError(
            f"{resp.request.method} {resp.request.url} -> {resp.status_code}: {resp.text}"
        )
    return resp


def _until_known(call: Any, timeout_s: float = 60.0) -> httpx.Response:
    """The directory reaches the learning service as events: retry a call naming a person
    while the service does not know them yet."""
    deadline = time.monotonic() + timeout_s
    while True:
        resp = call()
        if resp.status_code not in (404, 422) or time.monotonic() > deadline:
            return _ok(resp)
        time.sleep(0.2)


def _prerequisites_first(courses: list[Any]) -> list[Any]:
    """The courses in an order where each comes after its prerequisites (a write naming
    an unknown course is refused)."""
    done: set[str] = set()
    out: list[Any] = []
    pending = list(courses)
    while pending:
        ready = [c for c in pending if all(p in done for p in c[6])]
        assert ready, "the demo catalogue has a prerequisite cycle"
        for c in ready:
            done.add(c[0])
            out.append(c)
        pending = [c for c in pending if c[0] not in done]
    return out


def load(http: httpx.Client, company: Any, progress: bool) -> dict[str, int]:
    rnd = random.Random(SEED)
    for sid, (zh, en, cat) in SKILLS.items():
        _ok(
            http.put(
                f"/api/v1/learning/skills/{sid}",
                json={"name_zh": zh, "name_en": en, "category": cat},
            )
        )
    for cid, zh, en, fmt, minutes, gains, pre, required, quiz in _prerequisites_first(COURSES):
        _ok(
            http.put(
                f"/api/v1/learning/courses/{cid}",
                json={
                    "title_zh": zh,
                    "title_en": en,
                    "format": fmt,
                    "duration_minutes": minutes,
                    "skills": gains,
                    "prerequisites": pre,
                    "required_for": [FAMILY] if required else [],
                    "quiz_pass_score": quiz,
                },
            )
        )
    _ok(
        http.put(
            f"/api/v1/learning/job-families/{FAMILY}",
            json={"name_zh": "销售代表", "name_en": "Salesperson", "required_levels": PROFILE},
        )
    )
    people = company.people
    today = dt.date.today()
    by_team: dict[str, list[dict[str, Any]]] = {}
    for p in people:
        if p["job_role"] == "salesperson":
            by_team.setdefault(p["org_unit_id"], []).append(p)
    mentors = 0
    for _team, members in sorted(by_team.items()):
        senior = min(
            (p for p in members if p["status"] == "active"),
            key=lambda p: p["hired_on"],
            default=None,
        )
        if senior is None:
            continue
        _until_known(
            lambda s=senior: http.put(
                f"/api/v1/learning/mentors/{s['employee_id']}", json={"capacity": 4}
            )
        )
        mentors += 1
    hires = [p for p in people if p["status"] == "probation" and p["job_role"] == "salesperson"]
    paths = reassessed = completions = 0
    for i, p in enumerate(hires):
        eid = p["employee_id"]
        kind = i % 3
        base = (
            RETAIL
            if kind == 0
            else NEWCOMER
            if kind == 1
            else {k: rnd.randint(20, 75) for k in RETAIL}
        )
        hired = dt.date.fromisoformat(p["hired_on"])
        _until_known(
            lambda e=eid, b=base, h=hired: http.post(
                f"/api/v1/learning/people/{e}/assessments",
                json={
                    "kind": "initial",
                    "assessed_on": h.isoformat(),
                    "source": "入职测评 Onboarding assessment",
                    "scores": [{"skill_id": k, "score": v} for k, v in b.items()],
                },
            )
        )
        path = _ok(http.get(f"/api/v1/learning/people/{eid}/path")).json()
        paths += 1
        mentor = http.get(f"/api/v1/learning/people/{eid}/mentor")
        if mentor.status_code == 404:
            senior = min(
                (q for q in by_team[p["org_unit_id"]] if q["status"] == "active"),
                key=lambda q: q["hired_on"],
                default=None,
            )
            if senior is not None:
                http.post(
                    f"/api/v1/learning/people/{eid}/mentor",
                    json={"mentor_id": senior["employee_id"]},
                )  # at capacity: HR decides later
        # progress: the courses due by now, most of them done
        for item in path["items"]:
            if dt.date.fromisoformat(item["due_on"]) > today or rnd.random() < 0.25:
                continue
            url = f"/api/v1/learning/people/{eid}/path/items/{item['item_id']}/complete"
            r = http.post(url, json={"quiz_score": rnd.randint(75, 98)})
            completions += r.status_code == 200
        if kind != 2 and (today - hired).days >= 14:  # a re-assessment this week
            improved = {
                k: min(100, v + rnd.randint(8, 20))
                for k, v in base.items()
                if PROFILE.get(k, 0) > v
            }
            _ok(
                http.post(
                    f"/api/v1/learning/people/{eid}/assessments",
                    json={
                        "kind": "reassessment",
                        "assessed_on": today.isoformat(),
                        "source": "周测 Weekly check",
                        "scores": [{"skill_id": k, "score": v} for k, v in improved.items()],
                    },
                )
            )
            reassessed += 1
    if progress:
        print(
            f"[zhanli] demo: learning catalogue {len(COURSES)} courses, {paths} paths, "
            f"{mentors} mentors",
            flush=True,
        )
    return {
        "learning_courses": len(COURSES),
        "learning_paths": paths,
        "learning_mentors": mentors,
        "learning_reassessments": reassessed,
        "learning_completions": completions,
    }
