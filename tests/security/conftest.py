"""Fixtures of the security tests: one real platform for the whole folder (helpers live in
``zl_seckit``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The helper module sits next to this file; importlib mode does not put it on sys.path.
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))

from zl_seckit import World, build_world, start_platform


@pytest.fixture(scope="session")
def security_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    # start_platform picks free ports racily (a concurrent run can take one of the five
    # service ports before the supervisor binds it): one more try on a failed start.
    for attempt in (1, 2):
        platform = start_platform(tmp_path_factory.mktemp(f"security-{attempt}"), "--no-demo")
        try:
            started = next(platform)
        except AssertionError:
            if attempt == 2:
                raise
            continue
        try:
            yield started
        finally:
            platform.close()  # runs start_platform's clean stop
        return


@pytest.fixture(scope="session")
def world(security_platform: object) -> Iterator[World]:
    w = build_world(security_platform)
    yield w
    for c in w.clients.values():
        c.close()
