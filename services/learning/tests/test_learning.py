"""The learning service through its API and events: catalogue (cycles, unknown skills,
imports), assessments and skill improvement, paths on hire, HR adjustments, progress,
the mentor programme (capacity, weekly tasks, evidence, ratings, reassignment), KPI
recommendations, reminders and the onboarding view. Each test builds its own catalogue,
job family and people (fresh ids)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from zhanli_shared.events.contracts.directory import EmployeeUpserted, EmploymentStatus
from zhanli_shared.testing.plugin import eventually
from zhanli_shared.testing.rows import outbox_rows_about


def uid(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def hr(svc: Any) -> dict[str, str]:
    return svc.auth("hr1", ["hr_admin"])


def fields(problem: dict) -> list[str]:
    return [e["field"] for e in problem.get("errors") or []]


async def put(svc: Any, url: str, body: dict, status: int = 200) -> dict:
    r = await svc.client.put(url, json=body, headers=hr(svc))
    assert r.status_code == status, r.text
    return r.json()


class World:
    """One test's skills, courses and job family (the DOMAIN.md e-commerce profile)."""

    def __init__(self, svc: Any) -> None:
        self.svc = svc
        self.tag = uuid.uuid4().hex[:6]
        self.family = f"fam{self.tag}"

    def s(self, name: str) -> str:
        return f"{name}-{self.tag}"

    def c(self, name: str) -> str:
        return f"{name}-{self.tag}"

    async def build(self) -> World:
        skills = {
            "sales": ("销售基础", "Sales basics", "sales_skills"),
            "industry": ("行业知识", "Industry knowledge", "industry_knowledge"),
            "platform": ("平台规则", "Platform rules", "platform_skills"),
            "online": ("线上沟通", "Online communication", "sales_skills"),
            "agility": ("学习能力", "Learning agility", "personal"),
        }
        for key, (zh, en, cat) in skills.items():
            await put(
                self.svc,
                f"/api/v1/learning/skills/{self.s(key)}",
                {"name_zh": zh, "name_en": en, "category": cat},
            )
        courses = [
            ("ORIENT", "入职引导", "Orientation", 60, {}, [], [self.family], None),
            ("SALES", "销售基础", "Sales basics", 240, {"sales": 50}, [], [], None),
            ("NEGO", "谈判技巧", "Negotiation", 180, {"sales": 30}, ["SALES"], [], 60),
            ("IND", "行业知识", "Industry knowledge", 300, {"industry": 60}, [], [], None),
            ("PLAT", "平台规则", "Platform rules", 180, {"platform": 60}, [], [], None),
            ("ONLINE", "线上沟通", "Online communication", 180, {"online": 50}, [], [], None),
            ("LIVE", "直播话术", "Live-stream scripts", 120, {"online": 20}, ["ONLINE"], [], None),
        ]
        for cid, zh, en, minutes, gains, pre, req, quiz in courses:
            await put(
                self.svc,
                f"/api/v1/learning/courses/{self.c(cid)}",
                {
                    "title_zh": zh,
                    "title_en": en,
                    "format": "online",
                    "duration_minutes": minutes,
                    "skills": {self.s(k): v for k, v in gains.items()},
                    "prerequisites": [self.c(p) for p in pre],
                    "required_for": req,
                    "quiz_pass_score": quiz,
                },
            )
        await put(
            self.svc,
            f"/api/v1/learning/job-families/{self.family}",
            {
                "name_zh": "电商销售",
                "name_en": "E-commerce sales",
                "required_levels": {
                    self.s("sales"): 60,
                    self.s("industry"): 50,
                    self.s("platform"): 60,
                    self.s("online"): 60,
                },
            },
        )
        return self

    async def hire(
        self,
        employee_id: str | None = None,
        *,
        status: str = "probation",
        manager_id: str | None = None,
        team: str = "T9",
        hired_on: dt.date | None = None,
        wait_path: bool = True,
    ) -> str:
        employee_id = employee_id or uid("E")
        await self.svc.publish(
            EmployeeUpserted(
                employee_id=employee_id,
                name="陈静",
                org_unit_id=team,
                org_path=["G1", "B1", team],
                manager_id=manager_id,
                job_role=self.family,
                roles=["salesperson"],
                status=EmploymentStatus(status),
                hired_on=hired_on or dt.date.today(),
            )
        )

        async def known() -> bool:
            url = f"/api/v1/learning/people/{employee_id}/" + (
                "path" if wait_path else "onboarding"
            )
            r = await self.svc.client.get(url, headers=hr(self.svc))
            return r.status_code == 200

        await eventually(known, timeout_s=60)
        return employee_id


async def topics_about(svc: Any, *ids: str) -> list[str]:
    runtime = svc.runtime
    async with runtime.sessions() as session:
        return [t for _, t in await outbox_rows_about(session, runtime.tables.outbox, *ids)]


async def path_of(svc: Any, employee_id: str, headers: dict | None = None) -> dict:
    r = await svc.client.get(
        f"/api/v1/learning/people/{employee_id}/path", headers=headers or hr(svc)
    )
    assert r.status_code == 200, r.text
    return r.json()


# --- catalogue ----------------------------------------------------------------------------


async def test_course_with_unknown_skill_or_prerequisite_or_cycle_is_refused(learning) -> None:
    w = await World(learning).build()
    url = "/api/v1/learning/courses/"
    body = {"title_zh": "新课", "title_en": "New", "duration_minutes": 30}
    r = await learning.client.put(
        url + w.c("X"), json={**body, "skills": {"nope": 10}}, headers=hr(learning)
    )
    assert r.status_code == 422 and fields(r.json()) == ["skills.nope"]
    r = await learning.client.put(
        url + w.c("X"), json={**body, "prerequisites": ["missing"]}, headers=hr(learning)
    )
    assert r.status_code == 422 and fields(r.json()) == ["prerequisites.0"]
    # SALES <- NEGO; making SALES need NEGO closes a cycle, named in the answer
    r = await learning.client.put(
        url + w.c("SALES"),
        json={**body, "skills": {w.s("sales"): 50}, "prerequisites": [w.c("NEGO")]},
        headers=hr(learning),
    )
    assert r.status_code == 422 and fields(r.json()) == ["prerequisites"]
    assert f"{w.c('SALES')} -> {w.c('NEGO')} -> {w.c('SALES')}" in r.json()["detail"]
    r = await learning.client.get(url + w.c("SALES"), headers=hr(learning))
    assert r.json()["prerequisites"] == [] and r.json()["title_en"] == "Sales basics"
    r = await learning.client.get(url + w.c("X"), headers=hr(learning))
    assert r.status_code == 404  # nothing half-written
    # a salesperson reads the catalogue but cannot write it
    sp = learning.auth(uid("E"), ["salesperson"])
    assert (await learning.client.get(url + w.c("SALES"), headers=sp)).status_code == 200
    assert (await learning.client.put(url + w.c("Y"), json=body, headers=sp)).status_code == 403
    # retiring a prerequisite still needed is refused; a leaf retires
    r = await learning.client.delete(url + w.c("SALES"), headers=hr(learning))
    assert r.status_code == 409
    r = await learning.client.delete(url + w.c("LIVE"), headers=hr(learning))
    assert r.status_code == 200 and r.json()["active"] is False


async def test_import_csv_gbk_and_xlsx_apply_valid_rows_report_bad_ones_idempotently(
    learning,
) -> None:
    w = await World(learning).build()
    a, b, c, d = w.c("IA"), w.c("IB"), w.c("IC"), w.c("ID")
    sales = w.s("sales")
    text = (
        "课程编号,中文名称,英文名称,形式,时长分钟,技能,先修课程,必修岗位\n"
        f"{b},进阶课,Advanced,视频,90,{sales}:20,{a},\n"  # needs a row further down
        f"{a},基础课,Basics,线上,60,{sales}:30,,{w.family}\n"
        f"{c},坏技能,Bad skill,线上,60,nope:10,,\n"
        f"{d},循环,Cycle,线上,60,,{d},\n"
        f"{w.c('IE')},无时长,No duration,线上,,,,\n"
    )
    headers = {**hr(learning), "content-type": "text/csv; charset=gbk"}
    url = "/api/v1/learning/catalogue/imports?kind=courses"
    r = await learning.client.post(url, content=text.encode("gbk"), headers=headers)
    assert r.status_code == 200, r.text
    job = r.json()
    assert (job["rows_read"], job["rows_applied"], job["rows_failed"]) == (5, 2, 3)
    assert [(e["row"], e["field"]) for e in job["errors"]] == [
        (4, "skills.nope"),
        (5, "prerequisites.0"),
        (6, "duration_minutes"),
    ]
    got = (await learning.client.get(f"/api/v1/learning/courses/{b}", headers=hr(learning))).json()
    assert got["prerequisites"] == [a] and got["format"] == "video" and got["title_zh"] == "进阶课"
    again = await learning.client.post(url, content=text.encode("gbk"), headers=headers)
    assert (again.json()["rows_applied"], again.json()["rows_unchanged"]) == (0, 2)
    # the same rows as XLSX: unchanged; a cycle across two rows is named
    import io

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(
        ["course_id", "title_zh", "title_en", "duration_minutes", "skills", "prerequisites"]
    )
    sheet.append([a, "基础课", "Basics", 60, f"{sales}:30", None])
    sheet.append([w.c("IX"), "甲", "X", 30, None, w.c("IY")])
    sheet.append([w.c("IY"), "乙", "Y", 30, None, w.c("IX")])
    buf = io.BytesIO()
    book.save(buf)
    xlsx = {
        **hr(learning),
        "content-type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
    r = await learning.client.post(url, content=buf.getvalue(), headers=xlsx)
    job = r.json()
    assert r.status_code == 200, r.text
    assert job["rows_failed"] == 2 and job["rows_applied"] == 0, job
    assert all("cycle" in e["message"] for e in job["errors"])
    # (the XLSX has no format or required_for column: those stay as stored, row unchanged)
    assert job["rows_unchanged"] == 1
    r = await learning.client.post(
        url, content=b"\x00\x01", headers={**hr(learning), "content-type": "image/png"}
    )
    assert r.status_code == 415


# --- paths on hire --------------------------------------------------------------------------


async def test_a_hire_in_probation_gets_a_path_and_the_near_mentor(learning) -> None:
    w = await World(learning).build()
    team = uid("T")
    mentor = await w.hire(status="active", team=team, wait_path=False)
    r = await learning.client.put(
        f"/api/v1/learning/mentors/{mentor}", json={"capacity": 2}, headers=hr(learning)
    )
    assert r.status_code == 200, r.text
    rep = await w.hire(team=team, hired_on=dt.date(2026, 11, 2))
    path = await path_of(learning, rep)
    ids = [i["course_id"] for i in path["items"]]
    # never assessed: every gap is the full profile; ORIENT is required for the family
    assert ids[0] == w.c("ORIENT")
    assert {w.c(x) for x in ("SALES", "NEGO", "IND", "PLAT", "ONLINE", "LIVE")} == set(ids[1:])
    assert ids.index(w.c("SALES")) < ids.index(w.c("NEGO"))
    assert path["start_on"] == "2026-11-02" and path["probation_ends_on"] == "2027-01-30"
    assert path["probation_days"] == 90 and path["weekly_hours"] == 5.0
    assert all(i["within_probation"] for i in path["items"])
    r = await learning.client.get(f"/api/v1/learning/people/{rep}/mentor", headers=hr(learning))
    assert r.status_code == 200 and r.json()["mentor_id"] == mentor
    topics = await topics_about(learning, rep)
    assert "zhanli.learning.path_generated.v1" in topics
    # a second directory event (a change of name) plans nothing again
    await w.hire(rep, team=team, hired_on=dt.date(2026, 11, 2))
    assert (await path_of(learning, rep))["version"] == 1


async def test_assessments_personalise_the_path_and_publish_the_weekly_improvement(
    learning,
) -> None:
    w = await World(learning).build()
    rep = await w.hire(hired_on=dt.date(2026, 11, 2))
    mgr = learning.auth(uid("M"), ["sales_manager"], org_units=["T9"])
    # retail-experienced, new to e-commerce: only the online side is left
    r = await learning.client.post(
        f"/api/v1/learning/people/{rep}/assessments",
        json={
            "kind": "initial",
            "assessed_on": "2026-11-02",
            "scores": [
                {"skill_id": w.s("sales"), "score": 80},
                {"skill_id": w.s("industry"), "score": 60},
                {"skill_id": w.s("platform"), "score": 20},
                {"skill_id": w.s("online"), "score": 0},
            ],
        },
        headers=mgr,
    )
    assert r.status_code == 201, r.text
    assert r.json()["path_regenerated"] is True and r.json()["improvement"] is None
    ids = [i["course_id"] for i in (await path_of(learning, rep))["items"]]
    assert ids == [w.c("ORIENT"), w.c("PLAT"), w.c("ONLINE"), w.c("LIVE")] or set(ids) == {
        w.c("ORIENT"),
        w.c("PLAT"),
        w.c("ONLINE"),
        w.c("LIVE"),
    }
    assert ids.index(w.c("ONLINE")) < ids.index(w.c("LIVE"))
    # a re-assessment the week after: (80+60+45+40) / (80+60+20+0) - 1 = 40.625 %
    r = await learning.client.post(
        f"/api/v1/learning/people/{rep}/assessments",
        json={
            "assessed_on": "2026-11-11",
            "scores": [
                {"skill_id": w.s("platform"), "score": 45},
                {"skill_id": w.s("online"), "score": 40},
            ],
        },
        headers=mgr,
    )
    assert r.status_code == 201, r.text
    assert r.json()["week"] == "2026-W46"
    assert Decimal(r.json()["improvement"]) == Decimal("0.40625")
    assert "zhanli.learning.skill_improvement_measured.v1" in await topics_about(learning, rep)
    # bad input: unknown skill, a score out of range, the learner assessing themselves
    bad = [
        ({"assessed_on": "2026-11-12", "scores": [{"skill_id": "nope", "score": 5}]}, mgr, 422),
        (
            {"assessed_on": "2026-11-12", "scores": [{"skill_id": w.s("sales"), "score": 101}]},
            mgr,
            422,
        ),
        (
            {"assessed_on": "2026-11-12", "scores": [{"skill_id": w.s("sales"), "score": 99}]},
            learning.auth(rep, ["salesperson"]),
            403,
        ),
    ]
    for body, headers, status in bad:
        r = await learning.client.post(
            f"/api/v1/learning/people/{rep}/assessments", json=body, headers=headers
        )
        assert r.status_code == status, r.text
    r = await learning.client.get(
        f"/api/v1/learning/people/{rep}/assessments", headers=learning.auth(rep, ["salesperson"])
    )
    latest = {s["skill_id"]: s["score"] for s in r.json()["latest"]}
    assert latest[w.s("platform")] == 45 and len(r.json()["history"]) == 6


async def test_hr_adjusts_a_path_and_every_change_is_kept(learning) -> None:
    w = await World(learning).build()
    rep = await w.hire()
    path = await path_of(learning, rep)
    live = next(i for i in path["items"] if i["course_id"] == w.c("LIVE"))
    online = next(i for i in path["items"] if i["course_id"] == w.c("ONLINE"))
    base = f"/api/v1/learning/people/{rep}/path/items"
    # a prerequisite of a course on the path cannot go first
    r = await learning.client.post(
        f"{base}/{online['item_id']}/remove", json={}, headers=hr(learning)
    )
    assert r.status_code == 409
    r = await learning.client.post(
        f"{base}/{live['item_id']}/remove", json={"reason": "已有直播经验"}, headers=hr(learning)
    )
    assert r.status_code == 200 and w.c("LIVE") not in [i["course_id"] for i in r.json()["items"]]
    r = await learning.client.patch(
        f"{base}/{online['item_id']}", json={"due_on": "2099-01-01"}, headers=hr(learning)
    )
    assert r.status_code == 200
    # adding LIVE back; an unknown course is refused naming the field
    r = await learning.client.post(base, json={"course_id": w.c("LIVE")}, headers=hr(learning))
    assert r.status_code == 201 and w.c("LIVE") in [i["course_id"] for i in r.json()["items"]]
    r = await learning.client.post(base, json={"course_id": "nope"}, headers=hr(learning))
    assert r.status_code == 422 and fields(r.json()) == ["course_id"]
    sp = learning.auth(rep, ["salesperson"])
    r = await learning.client.post(base, json={"course_id": w.c("IND")}, headers=sp)
    assert r.status_code == 403
    r = await learning.client.get(f"/api/v1/learning/people/{rep}/path/changes", headers=sp)
    assert [c["action"] for c in r.json()] == [
        "generated",
        "course_removed",
        "course_changed",
        "course_added",
    ]
    assert "zhanli.audit.recorded.v1" in await topics_about(learning, rep)


async def test_progress_quiz_and_completion_rate(learning) -> None:
    w = await World(learning).build()
    rep = await w.hire()
    me = learning.auth(rep, ["salesperson"])
    path = await path_of(learning, rep, me)
    item = {i["course_id"]: i for i in path["items"]}
    base = f"/api/v1/learning/people/{rep}/path/items"
    r = await learning.client.post(
        f"{base}/{item[w.c('NEGO')]['item_id']}/complete", json={"quiz_score": 90}, headers=me
    )
    assert r.status_code == 409  # SALES first
    r = await learning.client.post(f"{base}/{item[w.c('SALES')]['item_id']}/start", headers=me)
    assert r.status_code == 200 and r.json()["status"] == "started"
    r = await learning.client.post(
        f"{base}/{item[w.c('SALES')]['item_id']}/complete", json={}, headers=me
    )
    assert r.status_code == 200 and r.json()["status"] == "completed"
    r = await learning.client.post(
        f"{base}/{item[w.c('SALES')]['item_id']}/complete", json={}, headers=me
    )
    assert r.status_code == 409  # a duplicate completion
    nego = f"{base}/{item[w.c('NEGO')]['item_id']}/complete"
    r = await learning.client.post(nego, json={"quiz_score": 40}, headers=me)
    assert r.status_code == 422 and fields(r.json()) == ["quiz_score"]
    r = await learning.client.post(nego, json={"quiz_score": 101}, headers=me)
    assert r.status_code == 422
    r = await learning.client.post(nego, json={"quiz_score": 75}, headers=me)
    assert r.status_code == 200 and r.json()["quiz_score"] == 75
    path = await path_of(learning, rep, me)
    assert path["completed"] == 2 and Decimal(path["completion_rate"]) == Decimal("0.2857")
    other = learning.auth(uid("E"), ["salesperson"])
    r = await learning.client.get(f"/api/v1/learning/people/{rep}/path", headers=other)
    assert r.status_code == 404  # out of scope reads like an unknown id
    r = await learning.client.post(f"{base}/{item[w.c('IND')]['item_id']}/start", headers=other)
    assert r.status_code == 403
    assert "zhanli.learning.training_progressed.v1" in await topics_about(learning, rep)


# --- mentors ---------------------------------------------------------------------------------

JPEG = b"\xff\xd8\xff\xe0" + b"0" * 100


async def test_mentor_capacity_week_tasks_evidence_and_submission(learning) -> None:
    w = await World(learning).build()
    mentor = await w.hire(status="active", team=uid("T"), wait_path=False)
    r = await learning.client.put(
        f"/api/v1/learning/mentors/{mentor}", json={"capacity": 1}, headers=hr(learning)
    )
    assert r.status_code == 200
    a, b = await w.hire(), await w.hire()
    url = "/api/v1/learning/people/{}/mentor"
    r = await learning.client.post(url.format(a), json={"mentor_id": mentor}, headers=hr(learning))
    assert r.status_code == 201, r.text
    r = await learning.client.post(url.format(b), json={"mentor_id": mentor}, headers=hr(learning))
    assert r.status_code == 422 and fields(r.json()) == ["mentor_id"]  # over capacity
    r = await learning.client.post(url.format(b), json={"mentor_id": b}, headers=hr(learning))
    assert r.status_code == 422 and fields(r.json()) == ["mentor_id"]
    r = await learning.client.get(url.format(b), headers=hr(learning))
    assert r.status_code == 404  # nothing half-written
    me = learning.auth(mentor, ["salesperson", "mentor"])
    bench = await learning.client.get(f"/api/v1/learning/mentors/{mentor}/workbench", headers=me)
    assert bench.status_code == 200, bench.text
    (mentee,) = bench.json()["mentees"]
    assert mentee["employee_id"] == a
    kinds = {t["kind"]: t for t in mentee["tasks"]}
    assert set(kinds) == {"client_visit", "review_coaching", "performance_talk"}
    visit = kinds["client_visit"]["task_id"]
    ev = f"/api/v1/learning/mentor-tasks/{visit}/evidence?filename=visit.jpg"
    r = await learning.client.post(
        ev, content=b"MZ\x90\x00 not a jpeg", headers={**me, "content-type": "image/jpeg"}
    )
    assert r.status_code == 422 and fields(r.json()) == ["file"]
    r = await learning.client.post(ev, content=JPEG, headers={**me, "content-type": "text/html"})
    assert r.status_code == 415
    big = b"\xff\xd8\xff" + b"0" * (learning.settings.evidence_max_bytes + 1)
    r = await learning.client.post(ev, content=big, headers={**me, "content-type": "image/jpeg"})
    assert r.status_code == 413
    r = await learning.client.post(
        ev,
        content=JPEG,
        headers={**learning.auth(a, ["salesperson"]), "content-type": "image/jpeg"},
    )
    assert r.status_code == 403  # only the task's mentor
    r = await learning.client.post(ev, content=JPEG, headers={**me, "content-type": "image/jpeg"})
    assert r.status_code == 201, r.text
    evidence_id = r.json()["evidence_id"]
    submit = f"/api/v1/learning/mentor-tasks/{visit}/submit"
    r = await learning.client.post(submit, json={"text": "陪同拜访杭州客户，记录需求"}, headers=me)
    assert r.status_code == 200 and r.json()["status"] == "submitted"
    r = await learning.client.post(submit, json={"text": "again"}, headers=me)
    assert r.status_code == 409  # a duplicate submission
    # the file: the mentor and the mentee see it, another salesperson does not
    dl = f"/api/v1/learning/evidence/{evidence_id}"
    for headers, status in (
        (me, 200),
        (learning.auth(a, ["salesperson"]), 200),
        (hr(learning), 200),
        (learning.auth(uid("E"), ["salesperson"]), 404),  # out of scope: like an unknown id
    ):
        r = await learning.client.get(dl, headers=headers)
        assert r.status_code == status
    assert r.status_code == 404
    r = await learning.client.get(dl, headers=me)
    assert r.content == JPEG and r.headers["x-content-type-options"] == "nosniff"
    # the mentor sees the mentee's learning
    r = await learning.client.get(f"/api/v1/learning/people/{a}/path", headers=me)
    assert r.status_code == 200
    topics = await topics_about(learning, a)
    assert "zhanli.learning.mentor_task_completed.v1" in topics


async def test_a_mentor_rated_below_seven_is_flagged_and_mentees_move(learning) -> None:
    w = await World(learning).build()
    team = uid("T")
    low = await w.hire(status="active", team=team, wait_path=False)
    good = await w.hire(status="active", team=uid("T"), wait_path=False)
    for m in (low, good):
        r = await learning.client.put(
            f"/api/v1/learning/mentors/{m}", json={"capacity": 3}, headers=hr(learning)
        )
        assert r.status_code == 200
    mentee = await w.hire(team=team)
    r = await learning.client.get(f"/api/v1/learning/people/{mentee}/mentor", headers=hr(learning))
    assert r.json()["mentor_id"] == low  # the mentor of the same team, on hire
    me = learning.auth(mentee, ["salesperson"])
    rate = f"/api/v1/learning/people/{mentee}/mentor/ratings"
    r = await learning.client.post(rate, json={"score": 11}, headers=me)
    assert r.status_code == 422 and fields(r.json()) == ["body.score"]
    r = await learning.client.post(rate, json={"score": 0}, headers=me)
    assert r.status_code == 422
    r = await learning.client.post(rate, json={"score": 5}, headers=learning.auth(low, ["mentor"]))
    assert r.status_code == 403
    r = await learning.client.post(rate, json={"score": 6, "week": "2026-W46"}, headers=me)
    assert r.status_code == 201, r.text
    assert r.json()["flagged"] is True and Decimal(r.json()["average"]) == 6
    reassignment = r.json()["reassignment_id"]
    r = await learning.client.post(rate, json={"score": 8, "week": "2026-W46"}, headers=me)
    assert r.status_code == 409  # once a week
    r = await learning.client.get("/api/v1/learning/reassignments", headers=hr(learning))
    assert any(x["reassignment_id"] == reassignment and x["mentees"] == [mentee] for x in r.json())
    # a flagged mentor takes no new mentees
    other = await w.hire(team=uid("T"))
    r = await learning.client.post(
        f"/api/v1/learning/people/{other}/mentor", json={"mentor_id": low}, headers=hr(learning)
    )
    assert r.status_code == 422 and fields(r.json()) == ["mentor_id"]
    r = await learning.client.post(
        f"/api/v1/learning/reassignments/{reassignment}/moves",
        json={"mentee_id": mentee, "to_mentor_id": good},
        headers=hr(learning),
    )
    assert r.status_code == 200, r.text
    r = await learning.client.get(
        "/api/v1/learning/reassignments?status=done", headers=hr(learning)
    )
    assert any(x["reassignment_id"] == reassignment for x in r.json())
    r = await learning.client.get(f"/api/v1/learning/people/{mentee}/mentor", headers=me)
    assert r.json()["mentor_id"] == good
    assert "zhanli.learning.mentor_rated.v1" in await topics_about(learning, mentee)


# --- recommendations, reminders, onboarding ------------------------------------------------


async def test_kpi_recommendation_adds_a_course_and_tells_the_person(learning) -> None:
    from zhanli_shared.events.contracts.kpi import TrainingRecommended

    w = await World(learning).build()
    rep = await w.hire()
    me = learning.auth(rep, ["salesperson"])
    path = await path_of(learning, rep, me)
    live = next(i for i in path["items"] if i["course_id"] == w.c("LIVE"))
    r = await learning.client.post(
        f"/api/v1/learning/people/{rep}/path/items/{live['item_id']}/remove",
        json={},
        headers=hr(learning),
    )
    assert r.status_code == 200
    await learning.publish(
        TrainingRecommended(
            employee_id=rep,
            indicator="conversion_rate",
            period="2026-11",
            course_id=w.c("LIVE"),
            reason="转化率 60%",
            recommended_at=dt.datetime.now(dt.UTC),
        )
    )

    async def added() -> dict | None:
        p = await path_of(learning, rep, me)
        got = [i for i in p["items"] if i["course_id"] == w.c("LIVE")]
        return got[0] if got else None

    item = await eventually(added, timeout_s=60)
    assert item["reason"] == "kpi"
    assert "zhanli.learning.reminder.v1" in await topics_about(learning, rep)


async def test_overdue_courses_remind_then_escalate_and_the_onboarding_view(learning) -> None:
    w = await World(learning).build()
    manager = uid("M")
    start = dt.date.today() - dt.timedelta(days=30)
    rep = await w.hire(manager_id=manager, hired_on=start)
    me = learning.auth(rep, ["salesperson"])
    view = await learning.client.get(f"/api/v1/learning/people/{rep}/onboarding", headers=me)
    assert view.status_code == 200, view.text
    body = view.json()
    assert body["day"] == 31 and body["probation_days"] == 90 and body["has_path"] is True
    assert body["overdue"] >= 1 and body["next_deadlines"][0]["overdue"] is True
    sweep = "/api/v1/learning/sweeps"
    today = dt.date.today()
    r = await learning.client.post(sweep, headers=me)
    assert r.status_code == 403
    r = await learning.client.post(f"{sweep}?day={today.isoformat()}", headers=hr(learning))
    assert r.status_code == 200, r.text
    runtime = learning.runtime
    async with runtime.sessions() as session:
        from sqlalchemy import select

        rows = (
            (
                await session.execute(
                    select(runtime.tables.outbox.c.payload).where(
                        runtime.tables.outbox.c.topic == "zhanli.learning.reminder.v1",
                        runtime.tables.outbox.c.payload.contains(rep),
                    )
                )
            )
            .scalars()
            .all()
        )
    import json

    stages = {(json.loads(p)["data"]["stage"], json.loads(p)["data"]["recipient_id"]) for p in rows}
    assert ("escalate", manager) in stages  # weeks overdue: to the manager
    # a second sweep sends nothing again
    r = await learning.client.post(f"{sweep}?day={today.isoformat()}", headers=hr(learning))
    assert r.status_code == 200
    async with runtime.sessions() as session:
        again = await topics_about(learning, rep)
    assert again.count("zhanli.learning.reminder.v1") == len(rows) + 0


async def test_a_leaver_ends_their_mentoring_and_a_mentor_who_left_opens_a_reassignment(
    learning,
) -> None:
    w = await World(learning).build()
    team = uid("T")
    mentor = await w.hire(status="active", team=team, wait_path=False)
    r = await learning.client.put(
        f"/api/v1/learning/mentors/{mentor}", json={"capacity": 3}, headers=hr(learning)
    )
    assert r.status_code == 200
    stays, goes = await w.hire(team=team), await w.hire(team=team)
    for mentee in (stays, goes):
        r = await learning.client.get(
            f"/api/v1/learning/people/{mentee}/mentor", headers=hr(learning)
        )
        assert r.json()["mentor_id"] == mentor
    await w.hire(goes, status="left", team=team, wait_path=True)

    async def ended() -> bool:
        r = await learning.client.get(
            f"/api/v1/learning/people/{goes}/mentor", headers=hr(learning)
        )
        return r.status_code == 404

    await eventually(ended, timeout_s=60)
    bench = await learning.client.get(
        f"/api/v1/learning/mentors/{mentor}/workbench", headers=hr(learning)
    )
    assert [m["employee_id"] for m in bench.json()["mentees"]] == [stays]
    await w.hire(mentor, status="left", team=team, wait_path=False)

    async def reassignment() -> dict | None:
        r = await learning.client.get("/api/v1/learning/reassignments", headers=hr(learning))
        return next((x for x in r.json() if x["mentor_id"] == mentor), None)

    opened = await eventually(reassignment, timeout_s=60)
    assert opened["mentees"] == [stays]


async def test_training_far_along_while_the_kpi_lags_alerts_hr_once(learning) -> None:
    from zhanli_shared.events.contracts.kpi import KpiScoreUpdated

    w = await World(learning).build()
    rep = await w.hire()
    me = learning.auth(rep, ["salesperson"])
    await learning.publish(
        KpiScoreUpdated(
            employee_id=rep,
            period="2026-11",
            score=Decimal("0.55"),
            calculated_at=dt.datetime.now(dt.UTC),
        )
    )

    async def scored() -> dict | None:
        r = await learning.client.get(f"/api/v1/learning/people/{rep}/onboarding", headers=me)
        return r.json() if r.json()["kpi_score"] is not None else None

    view = await eventually(scored, timeout_s=60)
    assert Decimal(view["kpi_score"]) == Decimal("0.55") and view["kpi_period"] == "2026-11"
    path = await path_of(learning, rep, me)
    base = f"/api/v1/learning/people/{rep}/path/items"
    for item in path["items"]:  # in order: prerequisites first
        r = await learning.client.post(
            f"{base}/{item['item_id']}/complete", json={"quiz_score": 90}, headers=me
        )
        assert r.status_code == 200, r.text

    async def alerts() -> list[str]:
        runtime = learning.runtime
        async with runtime.sessions() as session:
            from sqlalchemy import select

            outbox = runtime.tables.outbox
            rows = (
                await session.execute(
                    select(outbox.c.payload).where(
                        outbox.c.topic == "zhanli.learning.reminder.v1",
                        outbox.c.payload.contains(rep),
                        outbox.c.payload.contains("onboarding_alert"),
                    )
                )
            ).scalars()
            return list(rows)

    assert len(await alerts()) == 1  # at 80 % done (6 of 7), once
