"""Learning bench: ``learning.paths_per_s``, personalised learning paths planned for 1,000
new hires over a catalogue of 2,000 courses (the service's planner, ``core.paths``:
gap analysis, greedy gap cover with prerequisites, topological order, schedule in the
90-day probation), against the naive path planned in the same run (every course of the
job family in topological order, same schedule). Pure CPU: no database, no HTTP."""

from __future__ import annotations

import datetime as dt
import pathlib
import random
import statistics
import time

from bench_common import Result, phase, say

from zhanli_learning.core.paths import Catalogue, Course, generate_path, naive_path

NAME = "learning"
COURSES = 2_000
HIRES = 1_000
NAIVE_HIRES = 200
SKILLS = 40
FAMILIES = 6
START = dt.date(2026, 11, 2)


def catalogue(rng: random.Random) -> tuple[Catalogue, dict[str, dict[str, int]]]:
    """Courses grouped by skill area (5 skills an area), each needing up to two earlier
    courses of its area (chains a few deep), gains 10-40 points on 1-3 skills, 0.5-8 h;
    a few required for a family (orientation, compliance). Families require 8-12 skills."""
    skills = [f"sk{i:02d}" for i in range(SKILLS)]
    families = [f"fam{i}" for i in range(FAMILIES)]
    areas: dict[int, list[str]] = {}
    courses = []
    for i in range(COURSES):
        cid = f"C{i:04d}"
        area = rng.randrange(SKILLS // 5)
        earlier = areas.setdefault(area, [])
        pre = frozenset(
            rng.sample(earlier[-30:], k=min(len(earlier[-30:]), rng.choice([0, 0, 1, 1, 2])))
        )
        own = skills[area * 5 : area * 5 + 5]
        gains = {s: rng.randint(10, 40) for s in rng.sample(own, rng.choice([1, 1, 2, 3]))}
        required = frozenset({rng.choice(families)}) if rng.random() < 0.002 else frozenset()
        courses.append(Course(cid, rng.choice([0.5, 1, 1.5, 2, 3, 4, 6, 8]), gains, pre, required))
        earlier.append(cid)
    profiles = {
        f: {s: rng.randint(50, 90) for s in rng.sample(skills, rng.randint(8, 12))}
        for f in families
    }
    return Catalogue(courses), profiles


def run(var: pathlib.Path, pg_url: str | None) -> list[Result]:
    phase(f"learning: {HIRES:,} paths over {COURSES:,} courses")
    rng = random.Random(20261205)
    t0 = time.perf_counter()
    cat, profiles = catalogue(rng)
    compile_s = time.perf_counter() - t0
    families = sorted(profiles)
    hires = [
        (
            rng.choice(families),
            {f"sk{i:02d}": rng.randint(0, 100) for i in range(SKILLS) if rng.random() < 0.8},
            rng.choice([None, None, 85]),
        )
        for _ in range(HIRES)
    ]
    rounds = []
    sizes, hours, fits, open_gaps = [], [], 0, 0
    for round_ in range(2):  # best of two (a busy machine)
        t0 = time.perf_counter()
        for family, assessed, agility in hires:
            path = generate_path(cat, family, profiles[family], assessed, START, agility=agility)
            if round_ == 0:
                sizes.append(len(path.items))
                hours.append(path.total_hours)
                fits += path.fits_in_probation
                open_gaps += bool(path.open_gaps)
        rounds.append(HIRES / (time.perf_counter() - t0))
        say(f"round {round_ + 1}: {rounds[-1]:,.0f} paths/s")
    naive_sizes, naive_fit = [], 0
    t0 = time.perf_counter()
    for family, _, _ in hires[:NAIVE_HIRES]:  # ~10x slower: a fifth of the hires
        naive = naive_path(cat, family, profiles[family], START)
        naive_sizes.append(len(naive.items))
        naive_fit += naive.fits_in_probation
    naive_count = len(naive_sizes)
    naive_rounds = [NAIVE_HIRES / (time.perf_counter() - t0)]
    say(f"naive: {naive_rounds[0]:,.0f} paths/s")
    baseline = Result(
        "learning.naive_paths_per_s",
        max(naive_rounds),
        "paths/s",
        True,
        notes=f"every course of the family in topological order: median "
        f"{statistics.median(naive_sizes):.0f} courses, {naive_fit / naive_count:.0%} fit in "
        f"the probation (measured on the first {NAIVE_HIRES} hires)",
    )
    main = Result(
        "learning.paths_per_s",
        max(rounds),
        "paths/s",
        True,
        notes=f"{HIRES:,} hires, {COURSES:,} courses, {FAMILIES} families, {SKILLS} skills "
        f"(catalogue compiled once in {compile_s * 1000:.0f} ms); median "
        f"{statistics.median(sizes):.0f} courses / {statistics.median(hours):.1f} h per path, "
        f"{fits / HIRES:.0%} fit in the 90-day probation, {open_gaps / HIRES:.0%} with a gap "
        "the catalogue cannot close; best of 2 rounds",
    ).with_baseline(baseline)
    return [main, baseline]
