"""Authorisation rows of the talent service (merged into test_authz_matrix.py).

Candidates' data (the candidate, the resume, assessments, applications, the ranking) is
visible only to HR (hr_admin, hr_bp), recruiters and the requisition's hiring managers
(the security company's requisition names the sales manager); nobody else, executives
included (404: an out-of-scope record reads like an unknown one). HR and recruiters run the pipeline; a hiring manager moves their own
requisition's candidates and schedules interviews. Profiles: HR edits, recruiting staff,
sales managers and executives read. Models and reports: HR.
"""

from __future__ import annotations

from typing import Any

from zl_seckit import Raw, World, subject_of

OK, NO, NF, CF, UN = "2xx", 403, 404, 409, 422
NO_ID = "00000000-0000-4000-8000-000000000000"
FAMILY = "sec_sales"
SEEDED: dict[str, str] = {}

TARGETED: list[tuple[str, str, Any, Any, Any]] = []

# roles in ROLES order: hr_admin, hr_bp, recruiter, sales_manager, mentor, salesperson,
# finance, executive, it_ops, integration
STAFF = (OK, OK, OK, NO, NO, NO, NO, NO, NO, NO)
# + the hiring manager; out of scope reads like an unknown id (404: no id enumeration)
SEES_CANDIDATE = (OK, OK, OK, OK, NF, NF, NF, NF, NF, NF)
# a write allowed to staff and sales managers by role, then scoped like a read
MOVES = (OK, OK, OK, OK, NO, NO, NO, NO, NO, NO)
READ_PROFILES = (OK, OK, OK, OK, NO, NO, NO, OK, NO, NO)
EDIT = (OK, OK, NO, NO, NO, NO, NO, NO, NO, NO)
HR = EDIT


def _only(value: Any, allowed: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(value if a == OK else a for a in allowed)


UNTARGETED: dict[str, tuple[Any, ...]] = {
    "talent.profiles.list": READ_PROFILES,
    "talent.profile.get": READ_PROFILES,
    "talent.profile.versions": READ_PROFILES,
    "talent.profile.put": EDIT,
    "talent.profile.learn": _only(UN, EDIT),  # no KPI in the window -> 422 once allowed
    "talent.profile.activate": _only(NF, EDIT),
    "talent.trait_observations.put": (OK, OK, NO, NO, NO, NO, NO, NO, NO, OK),
    "talent.candidates.post": STAFF,
    "talent.candidate.get": SEES_CANDIDATE,
    "talent.resume.get": SEES_CANDIDATE,
    "talent.resume.put": STAFF,
    "talent.assessments.post": STAFF,
    "talent.assessments.list": SEES_CANDIDATE,
    "talent.duplicates.list": STAFF,
    "talent.candidate.merge": _only(NF, STAFF),
    "talent.duplicate.dismiss": _only(NF, STAFF),
    "talent.requisitions.post": STAFF,
    "talent.requisitions.list": (OK,) * 10,  # filtered: a manager sees their own
    "talent.requisition.get": SEES_CANDIDATE,
    "talent.applications.post": _only(CF, STAFF),  # the seeded candidate already applied
    "talent.ranking.get": SEES_CANDIDATE,
    "talent.application.get": SEES_CANDIDATE,
    "talent.application.transition": _only(UN, MOVES),  # applied -> offer: 422
    "talent.application.hire": _only(UN, STAFF),  # not at the offer stage: 422
    "talent.interviews.post": MOVES,
    "talent.interviews.list": SEES_CANDIDATE,
    "talent.interview.feedback": (NF,) * 10,  # an unknown interview
    "talent.rescore_job.get": _only(NF, STAFF),
    "talent.reminders.run": (OK, NO, NO, NO, NO, NO, NO, NO, NO, OK),
    "talent.models.import": _only(UN, EDIT),  # not base64 -> 422
    "talent.models.versions": STAFF,
    "talent.models.card": _only(NF, STAFF),
    "talent.models.activate": _only(NF, EDIT),
    "talent.models.rollback": _only(CF, EDIT),  # nothing active -> 409
    "talent.reports.feedback": HR,
    "talent.reports.fairness": HR,
}

P = "/api/v1/talent"
ROUTES: dict[str, tuple[str, str]] = {
    "talent.profiles.list": ("GET", f"{P}/profiles"),
    "talent.profile.get": ("GET", f"{P}/profiles/{{job_family}}"),
    "talent.profile.versions": ("GET", f"{P}/profiles/{{job_family}}/versions"),
    "talent.profile.put": ("PUT", f"{P}/profiles/{{job_family}}"),
    "talent.profile.learn": ("POST", f"{P}/profiles/{{job_family}}/learn"),
    "talent.profile.activate": (
        "POST",
        f"{P}/profiles/{{job_family}}/versions/{{version}}/activate",
    ),
    "talent.trait_observations.put": ("PUT", f"{P}/trait-observations"),
    "talent.candidates.post": ("POST", f"{P}/candidates"),
    "talent.candidate.get": ("GET", f"{P}/candidates/{{candidate_id}}"),
    "talent.resume.get": ("GET", f"{P}/candidates/{{candidate_id}}/resume"),
    "talent.resume.put": ("PUT", f"{P}/candidates/{{candidate_id}}/resume"),
    "talent.assessments.post": ("POST", f"{P}/candidates/{{candidate_id}}/assessments"),
    "talent.assessments.list": ("GET", f"{P}/candidates/{{candidate_id}}/assessments"),
    "talent.duplicates.list": ("GET", f"{P}/duplicates"),
    "talent.candidate.merge": ("POST", f"{P}/candidates/{{candidate_id}}/merge"),
    "talent.duplicate.dismiss": (
        "POST",
        f"{P}/candidates/{{candidate_id}}/duplicates/dismiss",
    ),
    "talent.requisitions.post": ("POST", f"{P}/requisitions"),
    "talent.requisitions.list": ("GET", f"{P}/requisitions"),
    "talent.requisition.get": ("GET", f"{P}/requisitions/{{requisition_id}}"),
    "talent.applications.post": ("POST", f"{P}/requisitions/{{requisition_id}}/applications"),
    "talent.ranking.get": ("GET", f"{P}/requisitions/{{requisition_id}}/candidates"),
    "talent.application.get": ("GET", f"{P}/applications/{{application_id}}"),
    "talent.application.transition": (
        "POST",
        f"{P}/applications/{{application_id}}/transitions",
    ),
    "talent.application.hire": ("POST", f"{P}/applications/{{application_id}}/hire"),
    "talent.interviews.post": ("POST", f"{P}/applications/{{application_id}}/interviews"),
    "talent.interviews.list": ("GET", f"{P}/applications/{{application_id}}/interviews"),
    "talent.interview.feedback": ("PUT", f"{P}/interviews/{{interview_id}}/feedback"),
    "talent.rescore_job.get": ("GET", f"{P}/rescore-jobs/{{job_id}}"),
    "talent.reminders.run": ("POST", f"{P}/reminders/run"),
    "talent.models.import": ("POST", f"{P}/models/{{job_family}}/imports"),
    "talent.models.versions": ("GET", f"{P}/models/{{job_family}}/versions"),
    "talent.models.card": ("GET", f"{P}/models/{{job_family}}/versions/{{version}}/card"),
    "talent.models.activate": (
        "POST",
        f"{P}/models/{{job_family}}/versions/{{version}}/activate",
    ),
    "talent.models.rollback": ("POST", f"{P}/models/{{job_family}}/rollback"),
    "talent.reports.feedback": ("GET", f"{P}/reports/feedback"),
    "talent.reports.fairness": ("GET", f"{P}/reports/fairness"),
}

PROFILE = {
    "name": "安全矩阵销售",
    "keywords": [{"keyword": "客户开发", "weight": 1}],
    "traits": [{"name": "sales_simulation", "weight": 1, "threshold": 70}],
}


def request_for(endpoint: str, role: str, target_id: str | None) -> tuple[str, str, Any] | None:
    if not endpoint.startswith("talent."):
        return None
    tag = role.lower()
    family = f"sx_{tag}" if endpoint == "talent.profile.put" else FAMILY
    bodies: dict[str, Any] = {
        "talent.profile.put": PROFILE,
        "talent.profile.learn": {"period_from": "1999-01", "period_to": "1999-02"},
        "talent.trait_observations.put": {
            "observations": [
                {
                    "employee_id": f"SX-{tag}",
                    "trait": "weekly_follow_ups",
                    "value": 12,
                    "observed_on": "2026-11-30",
                }
            ]
        },
        "talent.candidates.post": {"name": f"矩阵候选人{tag}"},
        "talent.resume.put": Raw("客户开发 三年 货代销售".encode("gbk"), "text/plain"),
        "talent.assessments.post": {
            "kind": "sales_simulation",
            "score": 80,
            "taken_on": "2026-11-30",
        },
        "talent.candidate.merge": {"duplicate_id": NO_ID},
        "talent.duplicate.dismiss": {"other_id": NO_ID},
        "talent.requisitions.post": {
            "title": "矩阵",
            "job_family": FAMILY,
            "org_unit_id": "SEC-TA",
            "hiring_manager_ids": [subject_of("sales_manager")],
        },
        "talent.applications.post": {"candidate_id": SEEDED.get("candidate", NO_ID)},
        "talent.application.transition": {"to": "offer"},
        "talent.application.hire": {"employee_id": f"SX-HIRE-{tag}", "hired_on": "2026-12-07"},
        "talent.interviews.post": {
            "interviewer_id": subject_of("sales_manager"),
            "scheduled_at": "2026-12-08T10:00:00+08:00",
        },
        "talent.interview.feedback": {"ratings": {"listening": 4}, "recommendation": "yes"},
        "talent.models.import": {
            "filename": "h.csv",
            "content_base64": "@@ not base64 @@",
            "mapping": {"numeric": ["a"], "label": "hired"},
        },
    }
    values = {
        "job_family": family,
        "version": "999999",
        "candidate_id": SEEDED.get("candidate", NO_ID),
        "requisition_id": SEEDED.get("requisition", NO_ID),
        "application_id": SEEDED.get("application", NO_ID),
        "interview_id": NO_ID,
        "job_id": NO_ID,
    }
    method, template = ROUTES[endpoint]
    url = template.format(**values)
    if endpoint == "talent.resume.put":
        url += "?filename=cv.txt"
    if endpoint in ("talent.reports.feedback", "talent.reports.fairness"):
        url += f"?job_family={FAMILY}"
    return method, url, bodies.get(endpoint)


def seed(world: World) -> None:
    """A profile, a requisition whose hiring manager is the security company's sales
    manager, and a candidate who applied to it."""
    admin = world.client("admin")
    r = admin.put(f"{P}/profiles/{FAMILY}", json=PROFILE)
    assert r.status_code == 200, r.text
    r = admin.post(
        f"{P}/requisitions",
        json={
            "title": "矩阵职位",
            "job_family": FAMILY,
            "org_unit_id": "SEC-TA",
            "hiring_manager_ids": [subject_of("sales_manager")],
        },
    )
    assert r.status_code == 201, r.text
    SEEDED["requisition"] = r.json()["id"]
    r = admin.post(f"{P}/candidates", json={"name": "矩阵张三", "phone": "13800138000"})
    assert r.status_code == 201, r.text
    SEEDED["candidate"] = r.json()["id"]
    r = admin.post(
        f"{P}/requisitions/{SEEDED['requisition']}/applications",
        json={"candidate_id": SEEDED["candidate"]},
    )
    assert r.status_code == 201, r.text
    SEEDED["application"] = r.json()["id"]
