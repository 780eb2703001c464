"""Per-chat pacing of Telegram calls, checked against a virtual clock so machine load cannot disturb it."""

from __future__ import annotations

import asyncio

from bots.telegram_front.outbound import ChatPacer


class VirtualClock:
    """A clock that only moves when the pacer sleeps; records when each call was let through."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _released(pacer: ChatPacer, clock: VirtualClock, calls: list[tuple[int, bool, float]]) -> list[float]:
    """Run each (chat, edit, idle-before) call in order and return when each one was let through."""
    async def run() -> list[float]:
        out = []
        for chat_id, edit, idle in calls:
            clock.advance(idle)
            await pacer.wait(chat_id, edit=edit)
            out.append(clock.now)
        return out
    return asyncio.run(run())


def test_edits_in_a_private_chat_are_one_a_second_and_messages_are_not_held() -> None:
    clock = VirtualClock()
    pacer = ChatPacer(edit_interval_s=1.0, group_interval_s=3.0, clock=clock, sleep=clock.sleep)
    released = _released(pacer, clock, [(7, True, 0), (7, True, 0.1), (7, True, 0.1), (7, False, 0), (7, True, 5)])
    assert released[:3] == [100.0, 101.0, 102.0], "a burst of edits is spaced one second apart"
    assert released[3] == 102.0, "new messages in a private chat are not paced"
    assert released[4] == 107.0, "after a quiet spell an edit goes at once"


def test_chats_are_paced_independently_and_groups_more_slowly() -> None:
    clock = VirtualClock()
    pacer = ChatPacer(edit_interval_s=1.0, group_interval_s=3.0, clock=clock, sleep=clock.sleep)
    released = _released(pacer, clock, [(-5, False, 0), (-5, True, 0), (8, True, 0), (-5, False, 0)])
    assert released == [100.0, 103.0, 103.0, 106.0], "group messages and edits share one slot every 3 s"


def test_concurrent_waiters_each_get_their_own_slot() -> None:
    async def run() -> list[float]:
        loop = asyncio.get_running_loop()
        pacer = ChatPacer(edit_interval_s=0.2)
        start = loop.time()

        async def one() -> float:
            await pacer.wait(9, edit=True)
            return loop.time() - start
        return sorted(await asyncio.gather(*(one() for _ in range(4))))

    released = asyncio.run(run())
    # Slots are reserved before sleeping, so no two waiters share one: each is at least its slot late.
    assert all(at >= 0.2 * i - 0.01 for i, at in enumerate(released)), released
