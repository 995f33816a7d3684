"""Authorisation rows of the learning service (merged into test_authz_matrix.py).

- A person's learning (path, its changes, assessments, onboarding view, mentor tasks, their
  mentor) is person data: the person, their management chain, the company-wide roles and
  their active mentor (S-MENTOR mentors S-TEAM here); out of scope it reads like an unknown
  id (404). A mentor sees a mentee's learning, never pay (this service holds none).
- Assessments are recorded by HR, the manager or the mentor, never by the person.
- Paths are planned and adjusted by HR; progress (start, complete) by the learner or HR.
- A mentor is assigned by HR or the mentee's manager; only the mentee rates the mentor.
- The catalogue is read by everyone signed in and written by HR (hr_admin, hr_bp).
- A mentor's workbench: the mentor, HR and sales managers who see the mentor; tasks are
  submitted (with evidence) by their mentor only; evidence is served to the mentor and to
  those who see the mentee.
- Sweeps (reminders): HR, it_ops and integrations (a scheduler).
"""

from __future__ import annotations

from typing import Any

OK, NO, NF, CF, UN = "2xx", 403, 404, 409, 422
TEAM_MEMBER, MENTOR = "S-TEAM", "S-MENTOR"
SKILL, COURSE = "sx-skill", "SX-COURSE"
JPEG = b"\xff\xd8\xff\xe0" + b"sec-matrix" * 10
UNKNOWN = "00000000-0000-4000-8000-000000000000"
STATE: dict[str, Any] = {"items": {}}

_READ = {  # (own, team, other) of a person's learning
    "hr_admin": (OK, OK, OK),
    "hr_bp": (OK, OK, OK),
    "recruiter": (OK, NF, NF),
    "sales_manager": (OK, OK, NF),
    "mentor": (OK, OK, NF),  # S-MENTOR mentors S-TEAM
    "salesperson": (OK, NF, NF),
    "finance": (OK, OK, OK),
    "executive": (OK, OK, OK),
    "it_ops": (OK, NF, NF),
    "integration": (NF, NF, NF),  # no person
}
_HR_ONLY = {"hr_admin", "hr_bp"}

TARGETED: list[tuple[str, str, Any, Any, Any]] = []
for _endpoint in (
    "learning.path.get",
    "learning.path_changes.get",
    "learning.onboarding.get",
    "learning.assessments.get",
    "learning.mentor_tasks.get",
):
    for _role, _cells in _READ.items():
        TARGETED.append((_endpoint, _role, *_cells))
for _role, (_own, _team, _) in _READ.items():
    # only S-TEAM has a mentor: everyone else's answers 404 once the read is allowed
    TARGETED.append(("learning.mentor.get", _role, NF, _team, NF))
for _role in _READ:
    hr = _role in _HR_ONLY
    nobody = "integration" == _role
    # assessments: HR, the manager, the mentor; never the person themselves
    assess = {
        "hr_admin": (NO, OK, OK),
        "hr_bp": (NO, OK, OK),
        "sales_manager": (NO, OK, NO),
        "mentor": (NO, OK, NO),
    }.get(_role, (NF if nobody else NO, NO, NO))
    TARGETED.append(("learning.assessments.post", _role, *assess))
    hr_cells = (OK, OK, OK) if hr else (NO, NO, NO)
    TARGETED.append(("learning.path.post", _role, *hr_cells))
    TARGETED.append(("learning.path_items.post", _role, *hr_cells))
    TARGETED.append(("learning.path_item.patch", _role, *hr_cells))
    # an unknown item: 404 once allowed
    TARGETED.append(("learning.path_item.remove", _role, *((NF, NF, NF) if hr else (NO, NO, NO))))
    # progress: the learner or HR (start an item of their path; complete an unknown one)
    progress = (OK, OK, OK) if hr else ((NF, NO, NO) if nobody else (OK, NO, NO))
    TARGETED.append(("learning.path_item.start", _role, *progress))
    _c = [NF if c == OK else c for c in progress]
    TARGETED.append(("learning.path_item.complete", _role, _c[0], _c[1], _c[2]))
    # assigning a mentor (an unknown mentor: 422 once allowed): HR or the manager
    assign = (
        (UN, UN, UN)
        if hr
        else {"sales_manager": (UN, UN, NO)}.get(_role, (NF if nobody else NO, NO, NO))
    )
    TARGETED.append(("learning.mentor.post", _role, *assign))
    # rating: only the mentee (none of the role people has a mentor: 422)
    TARGETED.append(("learning.mentor_rating.post", _role, NF if nobody else UN, NO, NO))

# columns: hr_admin hr_bp recruiter sales_manager mentor salesperson finance executive
#          it_ops integration
_ALL = (OK, OK, OK, OK, OK, OK, OK, OK, OK, OK)
_HR = (OK, OK, NO, NO, NO, NO, NO, NO, NO, NO)
UNTARGETED: dict[str, tuple[Any, ...]] = {
    "learning.skills.list": _ALL,
    "learning.skill.put": _HR,
    "learning.courses.list": _ALL,
    "learning.course.get": _ALL,
    "learning.course.put": _HR,
    "learning.course.delete": (NF, NF, NO, NO, NO, NO, NO, NO, NO, NO),  # unknown course
    "learning.families.list": _ALL,
    "learning.family.get": _ALL,
    "learning.family.put": _HR,
    "learning.catalogue.import": _HR,
    "learning.mentors.list": (OK, OK, NO, OK, NO, NO, NO, NO, NO, NO),
    "learning.mentor.put": _HR,
    # S-MENTOR's workbench: the mentor, HR, their sales manager; finance and executives see
    # the person but not the workbench (403); the rest do not see the person (404)
    "learning.workbench.get": (OK, OK, NF, OK, OK, NF, NO, NO, NF, NF),
    "learning.evidence.post": (NO, NO, NO, NO, OK, NO, NO, NO, NO, NO),
    "learning.task.submit": (NO, NO, NO, NO, OK, NO, NO, NO, NO, NO),
    "learning.evidence.get": (OK, OK, NF, OK, OK, NF, OK, OK, NF, NF),
    "learning.reassignments.list": _HR,
    "learning.reassignment.move": (NF, NF, NO, NO, NO, NO, NO, NO, NO, NO),  # unknown id
    "learning.sweep.post": (OK, OK, NO, NO, NO, NO, NO, NO, OK, OK),
    # /api/v1/me: the caller's own onboarding; the workbench of a mentor (others: 404)
    "me.learning.get": (OK, OK, OK, OK, OK, OK, OK, OK, OK, NF),
    "me.mentoring.get": (NF, NF, NF, NF, OK, NF, NF, NF, NF, NF),
}

P = "/api/v1/learning/people/{employee_id}"
ROUTES: dict[str, tuple[str, str]] = {
    "learning.path.get": ("GET", P + "/path"),
    "learning.path.post": ("POST", P + "/path"),
    "learning.path_changes.get": ("GET", P + "/path/changes"),
    "learning.path_items.post": ("POST", P + "/path/items"),
    "learning.path_item.patch": ("PATCH", P + "/path/items/{item_id}"),
    "learning.path_item.remove": ("POST", P + "/path/items/{item_id}/remove"),
    "learning.path_item.start": ("POST", P + "/path/items/{item_id}/start"),
    "learning.path_item.complete": ("POST", P + "/path/items/{item_id}/complete"),
    "learning.onboarding.get": ("GET", P + "/onboarding"),
    "learning.assessments.get": ("GET", P + "/assessments"),
    "learning.assessments.post": ("POST", P + "/assessments"),
    "learning.mentor_tasks.get": ("GET", P + "/mentor-tasks"),
    "learning.mentor.get": ("GET", P + "/mentor"),
    "learning.mentor.post": ("POST", P + "/mentor"),
    "learning.mentor_rating.post": ("POST", P + "/mentor/ratings"),
    "learning.skills.list": ("GET", "/api/v1/learning/skills"),
    "learning.skill.put": ("PUT", "/api/v1/learning/skills/{skill_id}"),
    "learning.courses.list": ("GET", "/api/v1/learning/courses"),
    "learning.course.get": ("GET", "/api/v1/learning/courses/{course_id}"),
    "learning.course.put": ("PUT", "/api/v1/learning/courses/{course_id}"),
    "learning.course.delete": ("DELETE", "/api/v1/learning/courses/{course_id}"),
    "learning.families.list": ("GET", "/api/v1/learning/job-families"),
    "learning.family.get": ("GET", "/api/v1/learning/job-families/{family_id}"),
    "learning.family.put": ("PUT", "/api/v1/learning/job-families/{family_id}"),
    "learning.catalogue.import": ("POST", "/api/v1/learning/catalogue/imports"),
    "learning.mentors.list": ("GET", "/api/v1/learning/mentors"),
    "learning.mentor.put": ("PUT", "/api/v1/learning/mentors/{employee_id}"),
    "learning.workbench.get": ("GET", "/api/v1/learning/mentors/{mentor_id}/workbench"),
    "learning.evidence.post": ("POST", "/api/v1/learning/mentor-tasks/{task_id}/evidence"),
    "learning.task.submit": ("POST", "/api/v1/learning/mentor-tasks/{task_id}/submit"),
    "learning.evidence.get": ("GET", "/api/v1/learning/evidence/{evidence_id}"),
    "learning.reassignments.list": ("GET", "/api/v1/learning/reassignments"),
    "learning.reassignment.move": (
        "POST",
        "/api/v1/learning/reassignments/{reassignment_id}/moves",
    ),
    "learning.sweep.post": ("POST", "/api/v1/learning/sweeps"),
    "me.learning.get": ("GET", "/api/v1/me/learning"),
    "me.mentoring.get": ("GET", "/api/v1/me/mentoring"),
}


def seed(world: Any) -> None:
    """A skill, a course, a profile for every job role of the security company, a path for
    every person, S-MENTOR mentoring S-TEAM with the week's tasks and one evidence file."""
    import time

    from zl_seckit import ROLES, person_of

    admin = world.client("admin")

    def ok(r: Any) -> Any:
        assert r.status_code < 300, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
        return r.json()

    ok(
        admin.put(
            f"/api/v1/learning/skills/{SKILL}",
            json={"name_zh": "矩阵技能", "name_en": "Matrix skill", "category": "sales_skills"},
        )
    )
    ok(
        admin.put(
            f"/api/v1/learning/courses/{COURSE}",
            json={
                "title_zh": "矩阵课程",
                "title_en": "Matrix course",
                "duration_minutes": 60,
                "skills": {SKILL: 50},
            },
        )
    )
    for role in {*ROLES, "salesperson", "sales_manager"}:
        ok(
            admin.put(
                f"/api/v1/learning/job-families/{role}",
                json={"name_zh": role, "name_en": role, "required_levels": {SKILL: 40}},
            )
        )
    people = [p for p in (person_of(r) for r in ROLES) if p] + [TEAM_MEMBER, "S-OTHER"]
    deadline = time.monotonic() + 60
    for person in people:
        while True:  # the directory reaches the learning service as events
            r = admin.post(f"/api/v1/learning/people/{person}/path", json={})
            if r.status_code != 404 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        body = ok(r)
        STATE["items"][person] = body["items"][0]["item_id"]
    ok(admin.put(f"/api/v1/learning/mentors/{MENTOR}", json={"capacity": 5}))
    ok(admin.post(f"/api/v1/learning/people/{TEAM_MEMBER}/mentor", json={"mentor_id": MENTOR}))
    tasks = ok(admin.get(f"/api/v1/learning/people/{TEAM_MEMBER}/mentor-tasks"))
    by_kind = {t["kind"]: t["task_id"] for t in tasks}
    STATE["evidence_task"] = by_kind["client_visit"]
    STATE["submit_task"] = by_kind["review_coaching"]
    mentor = world.client("mentor")
    r = mentor.post(
        f"/api/v1/learning/mentor-tasks/{by_kind['performance_talk']}/evidence?filename=talk.jpg",
        content=JPEG,
        headers={"content-type": "image/jpeg"},
    )
    STATE["evidence"] = ok(r)["evidence_id"]


def request_for(endpoint: str, role: str, target: str | None) -> tuple[str, str, Any] | None:
    from zl_seckit import Raw

    if not endpoint.startswith(("learning.", "me.learning", "me.mentoring")):
        return None
    tag = role.replace("_", "-")
    person = f"/api/v1/learning/people/{target}"
    item = STATE["items"].get(target or "", UNKNOWN)
    simple = {
        "learning.path.get": ("GET", f"{person}/path", None),
        "learning.path.post": ("POST", f"{person}/path", {}),
        "learning.path_changes.get": ("GET", f"{person}/path/changes", None),
        "learning.path_items.post": ("POST", f"{person}/path/items", {"course_id": COURSE}),
        "learning.path_item.patch": (
            "PATCH",
            f"{person}/path/items/{item}",
            {"note": f"matrix {tag}"},
        ),
        "learning.path_item.remove": ("POST", f"{person}/path/items/{UNKNOWN}/remove", {}),
        "learning.path_item.start": ("POST", f"{person}/path/items/{item}/start", None),
        "learning.path_item.complete": ("POST", f"{person}/path/items/{UNKNOWN}/complete", {}),
        "learning.onboarding.get": ("GET", f"{person}/onboarding", None),
        "learning.assessments.get": ("GET", f"{person}/assessments", None),
        "learning.assessments.post": (
            "POST",
            f"{person}/assessments",
            {
                "kind": "reassessment",
                "assessed_on": "2026-11-05",
                "scores": [{"skill_id": SKILL, "score": 50}],
            },
        ),
        "learning.mentor_tasks.get": ("GET", f"{person}/mentor-tasks", None),
        "learning.mentor.get": ("GET", f"{person}/mentor", None),
        "learning.mentor.post": ("POST", f"{person}/mentor", {"mentor_id": "S-NO-MENTOR"}),
        "learning.mentor_rating.post": ("POST", f"{person}/mentor/ratings", {"score": 8}),
        "learning.skills.list": ("GET", "/api/v1/learning/skills", None),
        "learning.skill.put": (
            "PUT",
            f"/api/v1/learning/skills/sx-{tag}",
            {"name_zh": "技能", "name_en": "Skill", "category": "personal"},
        ),
        "learning.courses.list": ("GET", "/api/v1/learning/courses", None),
        "learning.course.get": ("GET", f"/api/v1/learning/courses/{COURSE}", None),
        "learning.course.put": (
            "PUT",
            f"/api/v1/learning/courses/SX-{tag}",
            {"title_zh": "课", "title_en": "Course", "duration_minutes": 30},
        ),
        "learning.course.delete": ("DELETE", f"/api/v1/learning/courses/SX-GONE-{tag}", None),
        "learning.families.list": ("GET", "/api/v1/learning/job-families", None),
        "learning.family.get": ("GET", "/api/v1/learning/job-families/salesperson", None),
        "learning.family.put": (
            "PUT",
            f"/api/v1/learning/job-families/sx-{tag}",
            {"name_zh": "岗位", "name_en": "Family", "required_levels": {SKILL: 30}},
        ),
        "learning.catalogue.import": (
            "POST",
            "/api/v1/learning/catalogue/imports?kind=courses",
            Raw(
                f"course_id,title_zh,title_en,duration_minutes\nSX-IMP-{tag},导入,Imported,30\n".encode(),
                "text/csv",
            ),
        ),
        "learning.mentors.list": ("GET", "/api/v1/learning/mentors", None),
        "learning.mentor.put": ("PUT", f"/api/v1/learning/mentors/{MENTOR}", {"capacity": 5}),
        "learning.workbench.get": ("GET", f"/api/v1/learning/mentors/{MENTOR}/workbench", None),
        "learning.evidence.post": (
            "POST",
            f"/api/v1/learning/mentor-tasks/{STATE.get('evidence_task', UNKNOWN)}/evidence",
            Raw(JPEG, "image/jpeg"),
        ),
        "learning.task.submit": (
            "POST",
            f"/api/v1/learning/mentor-tasks/{STATE.get('submit_task', UNKNOWN)}/submit",
            {"text": f"matrix {tag}"},
        ),
        "learning.evidence.get": (
            "GET",
            f"/api/v1/learning/evidence/{STATE.get('evidence', UNKNOWN)}",
            None,
        ),
        "learning.reassignments.list": ("GET", "/api/v1/learning/reassignments", None),
        "learning.reassignment.move": (
            "POST",
            f"/api/v1/learning/reassignments/{UNKNOWN}/moves",
            {"mentee_id": TEAM_MEMBER, "to_mentor_id": MENTOR},
        ),
        "learning.sweep.post": ("POST", "/api/v1/learning/sweeps", None),
        "me.learning.get": ("GET", "/api/v1/me/learning", None),
        "me.mentoring.get": ("GET", "/api/v1/me/mentoring", None),
    }
    return simple.get(endpoint)
