"""The prerequisite graph of the catalogue: pure, no I/O.

An edge ``course -> prerequisite`` means the prerequisite must be done first. The graph
must stay acyclic: :func:`find_cycle` names a cycle (``[a, b, c, a]``: a needs b, b needs
c, c needs a) so the catalogue can refuse the write that would close it.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping


class CycleError(ValueError):
    """The prerequisites form a cycle; ``cycle`` lists it, first course repeated last."""

    def __init__(self, cycle: list[str]) -> None:
        super().__init__("prerequisite cycle: " + " -> ".join(cycle))
        self.cycle = cycle


class UnknownCourseError(ValueError):
    def __init__(self, course: str, missing: str) -> None:
        super().__init__(f"{course!r} needs unknown course {missing!r}")
        self.course, self.missing = course, missing


def find_cycle(prereqs: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A cycle in ``prereqs`` (course -> its prerequisites) or None. Iterative DFS, so a
    long chain never hits the recursion limit. Deterministic: nodes in sorted order."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour: dict[str, int] = {}
    for root in sorted(prereqs):
        if colour.get(root, WHITE) != WHITE:
            continue
        stack: list[tuple[str, list[str]]] = [(root, sorted(prereqs.get(root, ())))]
        colour[root] = GREY
        path = [root]
        while stack:
            node, todo = stack[-1]
            if not todo:
                stack.pop()
                path.pop()
                colour[node] = BLACK
                continue
            nxt = todo.pop()
            state = colour.get(nxt, WHITE)
            if state == GREY:
                return [*path[path.index(nxt) :], nxt]
            if state == WHITE:
                colour[nxt] = GREY
                path.append(nxt)
                stack.append((nxt, sorted(prereqs.get(nxt, ()))))
    return None


def check_graph(prereqs: Mapping[str, Iterable[str]]) -> None:
    """Raise :class:`UnknownCourseError` for a prerequisite that is not a course, then
    :class:`CycleError` for a cycle."""
    for course in sorted(prereqs):
        for p in sorted(prereqs[course]):
            if p not in prereqs:
                raise UnknownCourseError(course, p)
    cycle = find_cycle(prereqs)
    if cycle is not None:
        raise CycleError(cycle)


def closure(course: str, prereqs: Mapping[str, Iterable[str]]) -> frozenset[str]:
    """Every course that must come before ``course`` (transitively), itself excluded."""
    seen: set[str] = set()
    todo = list(prereqs.get(course, ()))
    while todo:
        c = todo.pop()
        if c not in seen:
            seen.add(c)
            todo.extend(prereqs.get(c, ()))
    return frozenset(seen)


def topological(
    nodes: Iterable[str],
    prereqs: Mapping[str, Iterable[str]],
    key: Callable[[str], object] | None = None,
) -> list[str]:
    """``nodes`` ordered so that each comes after its prerequisites that are among them.
    Among the ready nodes the smallest ``key`` (default: the id) goes first, so the order
    is stable. Prerequisites outside ``nodes`` are ignored. Raises CycleError."""
    members = set(nodes)
    keyf = key or (lambda n: n)
    indegree = {n: 0 for n in members}
    dependants: dict[str, list[str]] = {n: [] for n in members}
    for n in members:
        for p in prereqs.get(n, ()):
            if p in members:
                indegree[n] += 1
                dependants[p].append(n)
    ready = [(keyf(n), n) for n, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    out: list[str] = []
    while ready:
        _, n = heapq.heappop(ready)
        out.append(n)
        for m in dependants[n]:
            indegree[m] -= 1
            if indegree[m] == 0:
                heapq.heappush(ready, (keyf(m), m))
    if len(out) != len(members):
        left = {n: [p for p in prereqs.get(n, ()) if p in members] for n in members - set(out)}
        raise CycleError(find_cycle(left) or sorted(left))
    return out
