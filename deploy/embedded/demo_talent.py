"""Talent demo data: two competency profiles (freight-forwarding sales, B2B SaaS sales),
two open requisitions in the demo company (hiring managers: manager1 and manager3), 40
candidates with Chinese resumes (some uploaded as GBK files), assessments and interview
feedback, candidates moved through the pipeline, a duplicate waiting for a person, and
the learned component bootstrapped from an export of 1,000 past candidates. Loaded
through the gateway like any integration."""

from __future__ import annotations

import base64
import datetime as dt
import random
from typing import Any

import httpx

from zhanli_shared.ml import synthetic

SEED = 2026
TZ = dt.timezone(dt.timedelta(hours=8))
P = "/api/v1/talent"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军", "杰", "涛", "明", "超", "霞"]
SKILLS = [
    "擅长拓客和开拓客户，独立开发新客户 30 余家",
    "五年货代销售经验，熟悉海运、空运和报关流程",
    "2024 年个人业绩增长 45%，超额完成年度指标",
    "积累了丰富的客户资源，覆盖长三角外贸企业",
    "订单转化能力强，线索到成单转化率 28%",
    "负责大客户销售，维护 KA 客户 12 家",
    "多次主导商务谈判，善于用数据说明方案价值",
    "善于倾听客户需求，客户满意度评分 4.8/5",
    "熟悉 SaaS 销售流程，使用 Salesforce 管理销售漏斗",
    "每周跟进客户 15 次以上，按时提交复盘报告",
]
FILLER = [
    "负责部门日常行政事务，协助经理安排会议。",
    "参与公司年会筹备，负责物料采购与现场布置。",
    "熟练使用办公软件，具备良好的文字表达能力。",
    "在校期间担任学生会干部，组织多项校园活动。",
    "处理客户来电咨询，记录问题并及时反馈。",
]
PROFILES = {
    "freight_sales": {
        "name": "货代销售 Freight-forwarding sales",
        "keywords": [
            {"keyword": "货代销售经验", "weight": 2},
            {"keyword": "客户开发", "weight": 2},
            {"keyword": "业绩增长", "weight": 1},
            {"keyword": "客户资源", "weight": 1},
            {"keyword": "订单转化能力", "weight": 1},
            {"keyword": "商务谈判", "weight": 1},
        ],
        "traits": [
            {"name": "sales_simulation", "label": "情景销售模拟", "weight": 2, "threshold": 70},
            {"name": "stress_resilience", "label": "抗压测评", "weight": 1, "threshold": 70},
            {
                "name": "interview.listening",
                "label": "倾听 (面试)",
                "source": "interview",
                "weight": 1,
                "threshold": 4.5,
                "tolerance": 2,
            },
            {
                "name": "weekly_follow_ups",
                "label": "每周客户跟进",
                "source": "behaviour",
                "weight": 1,
                "threshold": 12,
            },
        ],
    },
    "saas_sales": {
        "name": "B2B SaaS 销售",
        "keywords": [
            {"keyword": "SaaS销售", "weight": 2},
            {"keyword": "客户开发", "weight": 1},
            {"keyword": "需求挖掘", "weight": 1},
            {"keyword": "CRM", "weight": 1},
            {"keyword": "倾听", "weight": 1},
        ],
        "traits": [
            {"name": "sales_simulation", "label": "情景销售模拟", "weight": 2, "threshold": 72},
            {"name": "learning_ability", "label": "学习能力测评", "weight": 1, "threshold": 70},
            {
                "name": "interview.listening",
                "label": "倾听 (面试)",
                "source": "interview",
                "weight": 1,
                "threshold": 4.5,
                "tolerance": 2,
            },
        ],
        "elimination_below": 55,
        "focus_above": 80,
    },
}


def _check(resp: httpx.Response) -> httpx.Response:
    if resp.status_code >= 400:
        raise RuntimeError(
            f"{resp.request.method} {resp.request.url} -> {resp.status_code}: {resp.text}"
        )
    return resp


def resume(rnd: random.Random, name: str, ability: float) -> str:
    good = [s for s in SKILLS if rnd.random() < 0.15 + 0.25 * ability]
    lines = [f"个人简历\n姓名：{name}\n求职意向：销售\n工作经历："]
    lines += good + rnd.sample(FILLER, 3)
    return "\n".join(lines)


def load(http: httpx.Client, company: Any, progress: bool) -> dict[str, int]:
    rnd = random.Random(SEED)
    for family, body in PROFILES.items():
        _check(http.put(f"{P}/profiles/{family}", json=body))
    reqs = {
        "freight_sales": _check(
            http.post(
                f"{P}/requisitions",
                json={
                    "title": "货代销售经理（上海）",
                    "job_family": "freight_sales",
                    "org_unit_id": "B1-T1",
                    "hiring_manager_ids": ["E0010"],
                    "recruiter_id": "E0002",
                    "headcount": 2,
                },
            )
        ).json()["id"],
        "saas_sales": _check(
            http.post(
                f"{P}/requisitions",
                json={
                    "title": "SaaS 客户经理（深圳）",
                    "job_family": "saas_sales",
                    "org_unit_id": "B2-T1",
                    "hiring_manager_ids": ["E0027"],
                    "recruiter_id": "E0002",
                },
            )
        ).json()["id"],
    }
    candidates = 0
    applications: list[tuple[str, float]] = []
    today = dt.datetime.now(TZ).date()
    for i in range(24):
        name = rnd.choice(SURNAMES) + rnd.choice(GIVEN) + rnd.choice(GIVEN)
        ability = rnd.random()
        family = "freight_sales" if i % 2 == 0 else "saas_sales"
        phone = f"139{rnd.randint(0, 99_999_999):08d}"
        cand = _check(
            http.post(
                f"{P}/candidates",
                json={
                    "name": name,
                    "phone": phone,
                    "email": f"cand{i:02d}@example.cn",
                    "gender": rnd.choice(["female", "male"]),
                    "birth_year": rnd.randint(1985, 2002),
                    "source": rnd.choice(["招聘网站", "内推", "校园招聘", "猎头"]),
                },
            )
        ).json()
        text = resume(rnd, name, ability)
        if i % 3 == 0:  # a GBK file, as many Chinese resumes are
            _check(
                http.put(
                    f"{P}/candidates/{cand['id']}/resume",
                    params={"filename": f"{name}.txt"},
                    content=text.encode("gbk"),
                    headers={"content-type": "text/plain"},
                )
            )
        else:
            _check(
                http.put(
                    f"{P}/candidates/{cand['id']}/resume",
                    params={"filename": "cv.txt"},
                    content=text.encode(),
                    headers={"content-type": "text/plain"},
                )
            )
        for kind, base in (
            ("sales_simulation", 55),
            ("stress_resilience", 58),
            ("learning_ability", 60),
        ):
            if rnd.random() < 0.8:
                score = max(0, min(100, round(base + 35 * ability + rnd.gauss(0, 8))))
                _check(
                    http.post(
                        f"{P}/candidates/{cand['id']}/assessments",
                        json={
                            "kind": kind,
                            "score": score,
                            "taken_on": (today - dt.timedelta(days=3)).isoformat(),
                        },
                    )
                )
        app = _check(
            http.post(
                f"{P}/requisitions/{reqs[family]}/applications", json={"candidate_id": cand["id"]}
            )
        ).json()
        applications.append((app["id"], app["score"] or 0))
        candidates += 1
    # the best few move on: screened, an interview with feedback, one offer (a reminder
    # is due in three days if nobody confirms it)
    ranked = sorted(applications, key=lambda a: -a[1])
    for n, (aid, _) in enumerate(ranked[:6]):
        _check(
            http.post(
                f"{P}/applications/{aid}/transitions",
                json={"to": "screened", "next_step": "电话面试"},
            )
        )
        if n < 4:
            _check(http.post(f"{P}/applications/{aid}/transitions", json={"to": "interview"}))
            iv = _check(
                http.post(
                    f"{P}/applications/{aid}/interviews",
                    json={
                        "interviewer_id": "E0010",
                        "scheduled_at": (dt.datetime.now(TZ) - dt.timedelta(days=1)).isoformat(),
                    },
                )
            ).json()
            if n < 3:
                _check(
                    http.put(
                        f"{P}/interviews/{iv['id']}/feedback",
                        json={
                            "ratings": {
                                "listening": round(rnd.uniform(3.5, 5), 1),
                                "needs_discovery": round(rnd.uniform(3, 5), 1),
                            },
                            "recommendation": "yes",
                            "notes": "沟通清晰，能用数据说明方案",
                        },
                    )
                )
        if n == 0:
            _check(http.post(f"{P}/applications/{aid}/transitions", json={"to": "offer"}))
    for aid, _ in ranked[-3:]:
        _check(
            http.post(
                f"{P}/applications/{aid}/transitions",
                json={"to": "rejected", "reason": "经验与岗位要求差距较大（人工复核）"},
            )
        )
    # a duplicate: the same phone again, waiting for a person to merge or dismiss it
    _check(http.post(f"{P}/candidates", json={"name": "王伟", "phone": "13912345678"}))
    _check(http.post(f"{P}/candidates", json={"name": "王伟", "phone": "139-1234-5678"}))
    # the learned component, bootstrapped from an export of 1,000 past candidates
    trained = _check(
        http.post(
            f"{P}/models/freight_sales/imports",
            json={
                "filename": "历史候选人.xlsx",
                "content_base64": base64.b64encode(synthetic.candidates_xlsx(1000)).decode(),
                "mapping": {
                    "numeric": synthetic.CANDIDATE_NUMERIC,
                    "categorical": synthetic.CANDIDATE_CATEGORICAL,
                    "label": "录用后留任",
                    "id": "候选人编号",
                    "protected": ["性别", "年龄"],
                },
                "feature_traits": {
                    "情景模拟得分": "sales_simulation",
                    "抗压测评": "stress_resilience",
                    "学习能力测评": "learning_ability",
                    "面试评分": "interview.overall",
                    "来源渠道": "source",
                },
            },
            timeout=120,
        )
    ).json()
    if progress:
        print(
            f"[zhanli] demo: talent {candidates} candidates, 2 requisitions, learned component "
            f"{'active' if trained['activated'] else 'not activated'}",
            flush=True,
        )
    return {"talent_candidates": candidates, "talent_requisitions": len(reqs)}
