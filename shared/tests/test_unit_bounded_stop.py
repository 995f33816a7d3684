"""A service's stop never hangs: each part gets a bounded wait, then is abandoned."""

from __future__ import annotations

import asyncio

from zhanli_shared.runtime import bounded_stop


async def test_a_part_that_finishes_in_time_is_awaited() -> None:
    finished = asyncio.Event()

    async def stop() -> None:
        await asyncio.sleep(0)
        finished.set()

    assert await bounded_stop("quick", stop(), 5.0) is True
    assert finished.is_set()


async def test_a_part_that_swallows_its_cancellation_is_abandoned() -> None:
    """Like a Kafka client whose close waits on a broker that never answers and ignores the
    first cancellation: the stop goes on after the limit instead of waiting for it."""
    release = asyncio.Event()
    cancelled = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                cancelled.set()  # swallowed: keeps waiting

    assert await bounded_stop("stubborn", stubborn(), 0.2) is False
    await asyncio.wait_for(cancelled.wait(), 5)  # it was asked to stop
    release.set()  # let the abandoned task end (not part of the behaviour)


async def test_a_part_that_fails_does_not_stop_the_rest() -> None:
    async def broken() -> None:
        raise RuntimeError("broker gone")

    assert await bounded_stop("broken", broken(), 5.0) is True
