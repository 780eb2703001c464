"""Per-sender lanes: arrival order within a lane, parallel lanes, and a failure that does not stop a lane."""

from __future__ import annotations

import asyncio

import pytest

from bots.lanes import Lanes, Work


def test_one_lane_keeps_arrival_order_while_another_runs_in_parallel() -> None:
    async def run() -> list[str]:
        lanes = Lanes()
        log: list[str] = []
        gate = asyncio.Event()

        def step(name: str, *, wait: bool = False) -> Work:
            async def work() -> None:
                if wait:
                    await gate.wait()  # the first item of lane A is slow ...
                log.append(name)
            return work

        first = lanes.submit("A", step("a1", wait=True))
        second = lanes.submit("A", step("a2"))
        other = lanes.submit("B", step("b1"))
        await other  # ... lane B does not wait for it
        assert log == ["b1"] and lanes.busy() == 1
        gate.set()
        await asyncio.gather(first, second)
        assert lanes.busy() == 0
        return log

    assert asyncio.run(run()) == ["b1", "a1", "a2"]


def test_a_failure_reaches_its_caller_and_the_lane_goes_on() -> None:
    async def run() -> None:
        lanes = Lanes()
        done: list[str] = []

        async def boom() -> None:
            raise RuntimeError("broken")

        async def fine() -> None:
            done.append("fine")

        failed = lanes.submit("A", boom)
        after = lanes.submit("A", fine)
        with pytest.raises(RuntimeError, match="broken"):
            await failed
        await after
        assert done == ["fine"]

    asyncio.run(run())
