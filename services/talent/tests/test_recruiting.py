"""The recruiting flow through the talent API: profiles, candidates and resumes, scores
with reasons, ranking, the pipeline, hires, duplicates, reminders, learning a profile."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal

from sqlalchemy import select

from zhanli_shared.events.contracts.directory import EmployeeSeparated, SeparationReason
from zhanli_shared.events.contracts.kpi import KpiScoreUpdated
from zhanli_shared.testing.plugin import eventually
from zhanli_shared.testing.rows import outbox_rows_about
from zhanli_shared.testing.services import RunningService

HR = ("hr1", ["hr_admin"])
RECRUITER = ("rec1", ["recruiter"])

GOOD_RESUME = (
    "张伟 简历\n5年货代销售经验，擅长拓客与开拓客户，负责华东区大客户销售。"
    "2024年业绩增长40%，超额完成年度指标，客户资源丰富，订单转化能力强。善于倾听客户需求。"
)
WEAK_RESUME = "李强 简历\n三年行政助理，负责文件整理、会议安排和办公用品采购。"


def hdr(svc: RunningService, who: tuple[str, list[str]]) -> dict[str, str]:
    return svc.auth(who[0], who[1])


def family() -> str:
    return f"fam_{uuid.uuid4().hex[:8]}"


PROFILE = {
    "name": "货代销售",
    "keywords": [
        {"keyword": "客户开发", "weight": 2},
        {"keyword": "货代销售经验", "weight": 2},
        {"keyword": "业绩增长", "weight": 1},
        {"keyword": "客户资源", "weight": 1},
        {"keyword": "订单转化能力", "weight": 1},
    ],
    "traits": [
        {"name": "sales_simulation", "label": "情景销售模拟", "weight": 2, "threshold": 70},
        {"name": "stress_resilience", "weight": 1, "threshold": 75},
        {
            "name": "interview.listening",
            "source": "interview",
            "weight": 1,
            "threshold": 4.5,
            "tolerance": 2,
        },
        {"name": "weekly_follow_ups", "source": "behaviour", "weight": 1, "threshold": 12},
    ],
}


async def setup_requisition(
    svc: RunningService, fam: str, managers: list[str] | None = None
) -> str:
    r = await svc.client.put(f"/api/v1/talent/profiles/{fam}", json=PROFILE, headers=hdr(svc, HR))
    assert r.status_code == 200, r.text
    r = await svc.client.post(
        "/api/v1/talent/requisitions",
        json={
            "title": "货代销售经理",
            "job_family": fam,
            "org_unit_id": "T1",
            "hiring_manager_ids": managers or ["M1"],
            "recruiter_id": "rec1",
        },
        headers=hdr(svc, RECRUITER),
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def new_candidate(svc: RunningService, name: str = "张伟", **extra) -> str:
    r = await svc.client.post(
        "/api/v1/talent/candidates", json={"name": name, **extra}, headers=hdr(svc, RECRUITER)
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_gbk_resume_scored_with_reasons_then_hired(talent: RunningService) -> None:
    svc = talent
    fam = family()
    req = await setup_requisition(svc, fam)
    cid = await new_candidate(svc, phone="13912345678", email=f"{uuid.uuid4().hex[:6]}@ex.com")
    up = await svc.client.put(
        f"/api/v1/talent/candidates/{cid}/resume",
        params={"filename": "张伟.txt"},
        content=GOOD_RESUME.encode("gbk"),
        headers=hdr(svc, RECRUITER) | {"content-type": "text/plain"},
    )
    assert up.status_code == 200, up.text
    assert up.json()["encoding"] == "gbk" and "客户开发" in up.json()["skills"]

    app = await svc.client.post(
        f"/api/v1/talent/requisitions/{req}/applications",
        json={"candidate_id": cid},
        headers=hdr(svc, RECRUITER),
    )
    assert app.status_code == 201, app.text
    body = app.json()
    assert body["profile_version"] == 1 and body["score"] is not None
    explanation = body["explanation"]
    assert "客户开发" in explanation["keywords_matched"]
    assert explanation["traits_missing"] == [
        "sales_simulation",
        "stress_resilience",
        "interview.listening",
    ]
    assert "recommendation" in explanation["note"]
    before = body["score"]

    r = await svc.client.post(
        f"/api/v1/talent/candidates/{cid}/assessments",
        json={"kind": "sales_simulation", "score": 92, "taken_on": "2026-12-01"},
        headers=hdr(svc, RECRUITER),
    )
    assert r.status_code == 201, r.text
    after = (
        await svc.client.get(f"/api/v1/talent/applications/{body['id']}", headers=hdr(svc, HR))
    ).json()
    assert after["score"] > before
    assert any(x["factor"] == "情景销售模拟" for x in after["explanation"]["reasons_up"])

    aid = body["id"]
    for stage in ("screened", "interview", "offer"):
        r = await svc.client.post(
            f"/api/v1/talent/applications/{aid}/transitions",
            json={"to": stage},
            headers=hdr(svc, RECRUITER),
        )
        assert r.status_code == 200, r.text
    employee_id = f"E{uuid.uuid4().hex[:8]}"
    hired = await svc.client.post(
        f"/api/v1/talent/applications/{aid}/hire",
        json={"employee_id": employee_id, "hired_on": "2026-12-07"},
        headers=hdr(svc, HR),
    )
    assert hired.status_code == 200, hired.text
    assert hired.json()["stage"] == "hired"
    async with svc.runtime.sessions() as session:
        rows = await outbox_rows_about(
            session,
            svc.runtime.tables.outbox,
            employee_id,
            topic="zhanli.talent.candidate_hired.v1",
        )
        assert len(rows) == 1
        payload = json.loads(
            (
                await session.execute(
                    select(svc.runtime.tables.outbox.c.payload).where(
                        svc.runtime.tables.outbox.c.event_id == rows[0][0]
                    )
                )
            ).scalar_one()
        )["data"]
    assert payload["org_unit_id"] == "T1" and payload["manager_id"] == "M1"
    assert Decimal(payload["match_score"]) == Decimal(str(after["score"]))
    assert payload["profile_version"] == 1 and payload["pool"] == after["pool"]
    assert "phone" not in payload and "email" not in payload

    # the directory records the exit; the application learns its outcome
    await svc.publish(
        EmployeeSeparated(
            employee_id=employee_id,
            separated_on=dt.date(2027, 2, 1),
            reason=SeparationReason.FAILED_PROBATION,
            recorded_at=dt.datetime.now(dt.UTC),
        )
    )

    async def separated() -> bool:
        r = await svc.client.get(f"/api/v1/talent/applications/{aid}", headers=hdr(svc, HR))
        return r.json()["separation_reason"] == "failed_probation"

    await eventually(separated)


async def test_ranking_filters_and_pools(talent: RunningService) -> None:
    svc = talent
    fam = family()
    req = await setup_requisition(svc, fam)
    ids = {}
    for name, text, sim in (
        ("好", GOOD_RESUME, 95),
        ("中", GOOD_RESUME, 65),
        ("弱", WEAK_RESUME, 20),
    ):
        cid = await new_candidate(svc, name, resume_text=text)
        await svc.client.post(
            f"/api/v1/talent/candidates/{cid}/assessments",
            json={"kind": "sales_simulation", "score": sim, "taken_on": "2026-12-01"},
            headers=hdr(svc, RECRUITER),
        )
        await svc.client.post(
            f"/api/v1/talent/candidates/{cid}/assessments",
            json={"kind": "stress_resilience", "score": sim, "taken_on": "2026-12-01"},
            headers=hdr(svc, RECRUITER),
        )
        r = await svc.client.post(
            f"/api/v1/talent/requisitions/{req}/applications",
            json={"candidate_id": cid},
            headers=hdr(svc, RECRUITER),
        )
        ids[name] = r.json()["id"]
    ranked = await svc.client.get(
        f"/api/v1/talent/requisitions/{req}/candidates", headers=hdr(svc, RECRUITER)
    )
    assert ranked.status_code == 200, ranked.text
    page = ranked.json()
    assert [i["candidate_name"] for i in page["items"]] == ["好", "中", "弱"]
    assert page["items"][-1]["pool"] == "elimination"
    assert sum(page["counts_by_pool"].values()) == 3
    only = await svc.client.get(
        f"/api/v1/talent/requisitions/{req}/candidates",
        params={"pool": "elimination"},
        headers=hdr(svc, RECRUITER),
    )
    assert [i["candidate_name"] for i in only.json()["items"]] == ["弱"]
    skill = await svc.client.get(
        f"/api/v1/talent/requisitions/{req}/candidates",
        params={"skill": ["客户开发"], "min_score": 1},
        headers=hdr(svc, RECRUITER),
    )
    assert {i["candidate_name"] for i in skill.json()["items"]} == {"好", "中"}

    # a rejection needs a person's reason, even in the elimination pool
    r = await svc.client.post(
        f"/api/v1/talent/applications/{ids['弱']}/transitions",
        json={"to": "rejected"},
        headers=hdr(svc, RECRUITER),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    r = await svc.client.post(
        f"/api/v1/talent/applications/{ids['弱']}/transitions",
        json={"to": "offer"},
        headers=hdr(svc, RECRUITER),
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "to"

    # a profile change re-scores the open applications in the background, with progress
    stricter = PROFILE | {"elimination_below": 99, "focus_above": 100}
    r = await svc.client.put(f"/api/v1/talent/profiles/{fam}", json=stricter, headers=hdr(svc, HR))
    assert r.json()["version"] == 2
    job_id = r.json()["rescore_job_id"]

    async def finished():
        j = await svc.client.get(f"/api/v1/talent/rescore-jobs/{job_id}", headers=hdr(svc, HR))
        return j.json() if j.json()["status"] == "succeeded" else None

    job = await eventually(finished)
    assert job["total"] == 3 and job["done"] == 3 and job["changed_pool"] >= 1
    again = await svc.client.get(
        f"/api/v1/talent/requisitions/{req}/candidates", headers=hdr(svc, RECRUITER)
    )
    assert {i["pool"] for i in again.json()["items"]} == {"elimination"}
    assert {i["profile_version"] for i in again.json()["items"]} == {2}


async def test_only_staff_and_the_requisitions_managers_see_candidates(
    talent: RunningService,
) -> None:
    svc = talent
    fam = family()
    manager = f"M{uuid.uuid4().hex[:6]}"
    req = await setup_requisition(svc, fam, managers=[manager])
    cid = await new_candidate(svc, phone="13800001111", email="a@b.cn", gender="female")
    await svc.client.post(
        f"/api/v1/talent/requisitions/{req}/applications",
        json={"candidate_id": cid},
        headers=hdr(svc, RECRUITER),
    )
    mine = await svc.client.get(
        f"/api/v1/talent/candidates/{cid}", headers=svc.auth(manager, ["sales_manager"])
    )
    assert mine.status_code == 200
    assert mine.json()["phone"] == "138****1111" and mine.json()["gender"] is None
    full = await svc.client.get(f"/api/v1/talent/candidates/{cid}", headers=hdr(svc, HR))
    assert full.json()["phone"] == "13800001111"
    other = await svc.client.get(
        f"/api/v1/talent/candidates/{cid}", headers=svc.auth("M_other", ["sales_manager"])
    )
    assert other.status_code == 404  # out of scope looks like unknown: no id enumeration
    seller = await svc.client.get(
        f"/api/v1/talent/requisitions/{req}/candidates", headers=svc.auth("S1", ["salesperson"])
    )
    assert seller.status_code == 404
    ranked = await svc.client.get(
        f"/api/v1/talent/requisitions/{req}/candidates",
        headers=svc.auth(manager, ["sales_manager"]),
    )
    assert ranked.status_code == 200 and ranked.json()["total"] == 1
    create = await svc.client.post(
        "/api/v1/talent/candidates",
        json={"name": "x"},
        headers=svc.auth(manager, ["sales_manager"]),
    )
    assert create.status_code == 403


async def test_duplicates_are_flagged_and_merged_by_a_person(talent: RunningService) -> None:
    svc = talent
    phone = "139" + str(uuid.uuid4().int)[:8]
    a = await new_candidate(svc, "王芳", phone=phone)
    b = await new_candidate(svc, "王芳", phone=phone[:3] + "-" + phone[3:], resume_text=GOOD_RESUME)
    read = (await svc.client.get(f"/api/v1/talent/candidates/{b}", headers=hdr(svc, HR))).json()
    assert read["merged_into"] is None  # never merged silently
    [pair] = read["duplicates"]
    assert pair["matched_on"] == ["phone"] and pair["status"] == "open"
    c = await new_candidate(svc, "不相干")
    bad = await svc.client.post(
        f"/api/v1/talent/candidates/{a}/merge", json={"duplicate_id": c}, headers=hdr(svc, HR)
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "duplicate_id"
    merged = await svc.client.post(
        f"/api/v1/talent/candidates/{a}/merge", json={"duplicate_id": b}, headers=hdr(svc, HR)
    )
    assert merged.status_code == 200, merged.text
    assert "客户开发" in merged.json()["skills"]
    gone = (await svc.client.get(f"/api/v1/talent/candidates/{b}", headers=hdr(svc, HR))).json()
    assert gone["merged_into"] == a
    twice = await svc.client.post(
        f"/api/v1/talent/candidates/{a}/merge", json={"duplicate_id": b}, headers=hdr(svc, HR)
    )
    assert twice.status_code == 409


async def test_bad_resume_files_are_refused_naming_the_field(talent: RunningService) -> None:
    svc = talent
    cid = await new_candidate(svc)
    url = f"/api/v1/talent/candidates/{cid}/resume"
    cases = [
        ("cv.pdf", b"plain text, not a pdf", 415, "file"),
        ("cv.txt", b"", 422, "file"),
        ("cv.exe", b"MZ", 415, "filename"),
        ("cv.txt", b"\x00\x00\x00\x00", 422, "encoding"),
        ("cv.docx", b"PK\x03\x04 not a zip", 422, "file"),
    ]
    for name, data, status, field in cases:
        r = await svc.client.put(
            url, params={"filename": name}, content=data, headers=hdr(svc, RECRUITER)
        )
        assert r.status_code == status, (name, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["errors"][0]["field"] == field
    big = await svc.client.put(
        url,
        params={"filename": "cv.txt"},
        content=b"a" * (svc.settings.resume_max_bytes + 1),
        headers=hdr(svc, RECRUITER),
    )
    assert big.status_code == 413
    still = (await svc.client.get(url, headers=hdr(svc, HR))).json()
    assert still["text"] is None  # nothing half-written
    r = await svc.client.post(
        f"/api/v1/talent/candidates/{cid}/assessments",
        json={"kind": "sales_simulation", "score": 120, "taken_on": "2026-12-01"},
        headers=hdr(svc, RECRUITER),
    )
    assert r.status_code == 422


async def test_reminders_offer_and_feedback_are_sent_once(talent: RunningService) -> None:
    from zhanli_talent.requisitions import service

    svc = talent
    fam = family()
    req = await setup_requisition(svc, fam)
    cid = await new_candidate(svc, resume_text=GOOD_RESUME)
    aid = (
        await svc.client.post(
            f"/api/v1/talent/requisitions/{req}/applications",
            json={"candidate_id": cid},
            headers=hdr(svc, RECRUITER),
        )
    ).json()["id"]
    for stage in ("screened", "interview"):
        await svc.client.post(
            f"/api/v1/talent/applications/{aid}/transitions",
            json={"to": stage},
            headers=hdr(svc, RECRUITER),
        )
    iv = await svc.client.post(
        f"/api/v1/talent/applications/{aid}/interviews",
        json={"interviewer_id": "M1", "scheduled_at": "2026-12-01T10:00:00+08:00"},
        headers=hdr(svc, RECRUITER),
    )
    assert iv.status_code == 201, iv.text
    await svc.client.post(
        f"/api/v1/talent/applications/{aid}/transitions",
        json={"to": "offer"},
        headers=hdr(svc, RECRUITER),
    )
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=4)
    settings = svc.settings
    for _ in range(2):
        async with svc.runtime.sessions() as session:
            await service.send_reminders(session, svc.runtime.publisher, settings, now=later)
            await session.commit()
    async with svc.runtime.sessions() as session:
        rows = await outbox_rows_about(
            session, svc.runtime.tables.outbox, aid, topic="zhanli.talent.pipeline_reminder_due.v1"
        )
        kinds = [
            json.loads(p)["data"]["kind"]
            for (p,) in (
                await session.execute(
                    select(svc.runtime.tables.outbox.c.payload).where(
                        svc.runtime.tables.outbox.c.event_id.in_([r[0] for r in rows])
                    )
                )
            ).all()
        ]
    assert sorted(kinds) == ["interview_feedback_overdue", "offer_unconfirmed"]

    fb = await svc.client.put(
        f"/api/v1/talent/interviews/{iv.json()['id']}/feedback",
        json={"ratings": {"listening": 5}, "recommendation": "yes"},
        headers=svc.auth("M1", ["sales_manager"]),
    )
    assert fb.status_code == 200, fb.text
    app = (await svc.client.get(f"/api/v1/talent/applications/{aid}", headers=hdr(svc, HR))).json()
    assert "interview.listening" not in app["explanation"]["traits_missing"]


async def test_profile_learned_from_top_performers(talent: RunningService) -> None:
    import random

    svc = talent
    fam = family()
    rng = random.Random(5)
    tag = uuid.uuid4().hex[:6]
    period = f"3{uuid.uuid4().int % 1000:03d}-07"  # this test's own: others' KPIs stay out
    people = [f"P{tag}{i:03d}" for i in range(60)]
    kpi = {p: rng.random() * 2 for p in people}
    for p in people:
        await svc.publish(
            KpiScoreUpdated(
                employee_id=p,
                period=period,
                score=Decimal(str(round(kpi[p], 3))),
                calculated_at=dt.datetime.now(dt.UTC),
            )
        )
    obs = [
        {
            "employee_id": p,
            "trait": "weekly_follow_ups",
            "value": 6 + 6 * kpi[p] + rng.random(),
            "observed_on": "2026-10-31",
            "source": "crm",
        }
        for p in people
    ] + [
        {
            "employee_id": p,
            "trait": "stress_resilience",
            "value": rng.random() * 100,
            "observed_on": "2026-10-31",
        }
        for p in people
    ]
    r = await svc.client.put(
        "/api/v1/talent/trait-observations", json={"observations": obs}, headers=hdr(svc, HR)
    )
    assert r.status_code == 200 and r.json()["written"] == 120

    async def projected() -> bool:
        from zhanli_talent.profiles.models import KpiScore

        async with svc.runtime.sessions() as session:
            n = len(
                (
                    await session.execute(
                        select(KpiScore.employee_id).where(KpiScore.employee_id.in_(people))
                    )
                ).all()
            )
        return n == len(people)

    await eventually(projected)
    r = await svc.client.post(
        f"/api/v1/talent/profiles/{fam}/learn",
        json={
            "period_from": period,
            "period_to": period,
            "trait_sources": {"weekly_follow_ups": "behaviour"},
        },
        headers=hdr(svc, HR),
    )
    assert r.status_code == 200, r.text
    learned = r.json()
    assert learned["active"] is False and learned["version"] == 1
    effects = {e["trait"]: e for e in learned["learned_from"]["effects"]}
    assert learned["learned_from"]["top_group"] == 12
    assert effects["weekly_follow_ups"]["effect_size"] > 1
    assert effects["weekly_follow_ups"]["warning"] is None
    traits = {t["name"]: t for t in learned["traits"]}
    assert traits["weekly_follow_ups"]["source"] == "behaviour"
    assert traits["weekly_follow_ups"]["weight"] > traits["stress_resilience"]["weight"]
    act = await svc.client.post(
        f"/api/v1/talent/profiles/{fam}/versions/1/activate", headers=hdr(svc, HR)
    )
    assert act.status_code == 200 and act.json()["active"] is True
    too_few = await svc.client.post(
        f"/api/v1/talent/profiles/{fam}/learn",
        json={"period_from": "1999-01", "period_to": "1999-02"},
        headers=hdr(svc, HR),
    )
    assert too_few.status_code == 422 and too_few.json()["errors"][0]["field"] == "period_from"


async def test_reports_feedback_and_fairness(talent: RunningService) -> None:
    svc = talent
    fam = family()
    req = await setup_requisition(svc, fam)
    for i in range(4):
        cid = await new_candidate(
            svc,
            f"候选{i}",
            resume_text=GOOD_RESUME if i % 2 else WEAK_RESUME,
            gender="female" if i < 2 else "male",
            birth_year=1995,
        )
        aid = (
            await svc.client.post(
                f"/api/v1/talent/requisitions/{req}/applications",
                json={"candidate_id": cid},
                headers=hdr(svc, RECRUITER),
            )
        ).json()["id"]
        move = {"to": "screened"} if i % 2 else {"to": "rejected", "reason": "经验不符"}
        r = await svc.client.post(
            f"/api/v1/talent/applications/{aid}/transitions",
            json=move,
            headers=hdr(svc, RECRUITER),
        )
        assert r.status_code == 200, r.text
    fair = await svc.client.get(
        "/api/v1/talent/reports/fairness",
        params={"requisition_id": req, "min_group_size": 2},
        headers=hdr(svc, HR),
    )
    assert fair.status_code == 200, fair.text
    body = fair.json()
    assert body["reviewed_by_people"] == 4
    gender = next(a for a in body["decisions"]["attributes"] if a["attribute"] == "gender")
    assert {g["group"]: g["rate"] for g in gender["groups"]} == {"female": 0.5, "male": 0.5}
    assert not gender["flagged"]
    recruiter = await svc.client.get(
        "/api/v1/talent/reports/fairness",
        params={"requisition_id": req},
        headers=hdr(svc, RECRUITER),
    )
    assert recruiter.status_code == 403
    fb = await svc.client.get(
        "/api/v1/talent/reports/feedback", params={"job_family": fam}, headers=hdr(svc, HR)
    )
    assert fb.status_code == 200, fb.text
    assert fb.json()["by_band"] == [] and "Not enough" in fb.json()["suggestions"][0]
